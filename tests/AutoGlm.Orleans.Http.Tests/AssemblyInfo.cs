// One in-process silo (Orleans + Kestrel on 127.0.0.1) serves every test of the run.
[assembly: AssemblyFixture(typeof(AutoGlm.Orleans.Http.Tests.Support.SiloServer))]
