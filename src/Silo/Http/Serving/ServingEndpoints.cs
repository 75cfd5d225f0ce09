using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Serving;

/// <summary>
/// The operator's serving page: GET /dashboard/serving, one static HTML file (inline CSS and script, nothing fetched
/// from elsewhere) that polls GET /dashboard/serving/data, which asks every active silo's engine grain for its
/// <see cref="ServingStats"/> (one grain call per silo, at once, each bounded by <see cref="SiloTimeout"/>).
/// </summary>
public static class ServingEndpoints
{
    public const string PagePath = "/dashboard/serving";
    public const string DataPath = "/dashboard/serving/data";

    /// <summary>How long one silo may take to answer before the page shows it as not answering.</summary>
    public static readonly TimeSpan SiloTimeout = TimeSpan.FromSeconds(3);

    private const string ResourceName = "AutoGlm.Orleans.Silo.Http.Serving.serving.html";

    // Scripts and styles only inline; data only from this origin; nothing else at all.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(ServingEndpoints).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"the resource {ResourceName} is missing");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>Maps the page and its data; the caller protects both as operator routes.</summary>
    public static (IEndpointConventionBuilder Page, IEndpointConventionBuilder Data) Map(IEndpointRouteBuilder app)
    {
        var page = app.MapGet(PagePath, (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
            context.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.Bytes(Page.Value, "text/html; charset=utf-8");
        });
        var data = app.MapGet(DataPath, async (HttpContext context, IGrainFactory grains, IClusterMembershipService membership) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return Results.Json(await CollectAsync(grains, membership, context.RequestAborted), ServingJsonContext.Default.ServingData);
        });
        return (page, data);
    }

    /// <summary>Every active silo's figures (ordered by address); a silo that fails or is slow carries its error instead.</summary>
    public static async Task<ServingData> CollectAsync(IGrainFactory grains, IClusterMembershipService membership, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(membership);
        var silos = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress)
            .OrderBy(s => s.ToParsableString(), StringComparer.Ordinal)
            .ToList();
        var answers = await Task.WhenAll(silos.Select(silo => AskAsync(grains, silo, cancellationToken)));
        return new ServingData(DateTimeOffset.UtcNow, answers);
    }

    private static async Task<ServingSilo> AskAsync(IGrainFactory grains, SiloAddress silo, CancellationToken cancellationToken)
    {
        var address = silo.ToParsableString();
        try
        {
            var stats = await SiloEngineGrainKeys.ForSilo(grains, silo).GetServingStats().WaitAsync(SiloTimeout, cancellationToken);
            return new ServingSilo(address, null, ServingFigures.From(stats));
        }
        catch (TimeoutException)
        {
            return new ServingSilo(address, $"no answer within {SiloTimeout.TotalSeconds:0} s", null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // An older silo without the call, or one going away: shown as such, the others still are.
            return new ServingSilo(address, ex.GetType().Name + ": " + ex.Message, null);
        }
    }
}
