using System.Text.Json.Nodes;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>Writes a keys file (<c>{"keys": [...]}</c>, plain keys) into a run's folder and names it to the silos.</summary>
public static class TestKeysFile
{
    /// <summary>The silo arguments that load the file.</summary>
    public static IReadOnlyList<string> Write(RunDirectory run, IReadOnlyList<TenantKey> keys)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(keys);
        var entries = new JsonArray();
        foreach (var key in keys)
        {
            var entry = new JsonObject { ["tenant"] = key.Tenant, ["key"] = key.Key, ["admin"] = key.Admin };
            if (key.RequestsPerMinute is { } perMinute)
            {
                entry["requests_per_minute"] = perMinute;
            }

            if (key.MaxConcurrentTurns is { } turns)
            {
                entry["max_concurrent_turns"] = turns;
            }

            entries.Add(entry);
        }

        var path = run.File("api-keys.json");
        File.WriteAllText(path, new JsonObject { ["keys"] = entries }.ToJsonString());
        return ["--api-keys-file", path];
    }
}
