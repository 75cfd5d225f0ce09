// One redis-server for the store tests of the run (each test uses its own key prefix).
[assembly: AssemblyFixture(typeof(AutoGlm.Orleans.Testing.RedisServer))]
