using AutoGlm.Orleans.Silo;

var builder = WebApplication.CreateBuilder(args);
builder.Services.Configure<ModelOptions>(builder.Configuration.GetSection(ModelOptions.Section));
builder.Services.AddSingleton<LoadedModel>();
builder.UseOrleans(silo => silo.UseLocalhostClustering());

var app = builder.Build();
var model = app.Services.GetRequiredService<LoadedModel>();
app.MapGet("/healthz", () => Results.Ok(new
{
    status = "ready",
    model = model.Manifest.Name,
    layers = model.Manifest.NumLayers,
    context_length = model.Manifest.ContextLength,
    kv_bytes_per_token = model.Manifest.KvBytesPerToken,
}));
app.Run();
