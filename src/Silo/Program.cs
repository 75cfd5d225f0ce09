using AutoGlm.Orleans.Silo;

SiloHost.Build(args).Run();
