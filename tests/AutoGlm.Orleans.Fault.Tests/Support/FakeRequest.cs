namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>A request <see cref="FakeHttpServer"/> received.</summary>
public sealed record FakeRequest(string RequestLine, IReadOnlyDictionary<string, string> Headers, string Body);
