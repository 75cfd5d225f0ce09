using AutoGlm.Orleans.Grains.Tenancy;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// The authenticated caller of one HTTP request: its tenant's key entry and the key itself (kept in the request only,
/// to pass on to the grains, which check it again; never logged, never stored).
/// </summary>
public sealed record ApiKeyFeature(ApiKeyEntry Entry, string? Key);
