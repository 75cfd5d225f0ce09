// Every test class starts real silos with real engines: xunit.runner.json keeps them from running side by side.
// One redis-server for the whole run (each cluster uses its own service id, so their keys never meet).
[assembly: AssemblyFixture(typeof(AutoGlm.Orleans.Testing.RedisServer))]
