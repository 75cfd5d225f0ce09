using AutoGlm.Orleans.Benchmarks;

return await BenchmarkCommand.RunAsync(args);
