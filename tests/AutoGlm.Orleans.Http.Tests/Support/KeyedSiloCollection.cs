namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>The test classes that share the silo with a keys file.</summary>
[CollectionDefinition(Name)]
public sealed class KeyedSiloCollection : ICollectionFixture<KeyedSiloServer>
{
    public const string Name = "keyed silo";
}
