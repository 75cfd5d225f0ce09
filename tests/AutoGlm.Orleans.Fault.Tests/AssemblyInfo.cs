// Every test of this project runs real processes (redis-server, silos) on this machine's few cores: one collection,
// so they never run at the same time.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
