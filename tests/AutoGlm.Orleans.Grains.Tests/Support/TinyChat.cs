using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Grains.Tests.Support;

/// <summary>The default model's manifest, tokenizer and template (no ONNX session: prompts only).</summary>
internal static class TinyChat
{
    private static readonly Lazy<(ModelManifest Manifest, Tokenizer Tokenizer)> Model = new(() =>
    {
        var manifest = ModelFolder.Load(RepositoryPaths.DefaultModel);
        return (manifest, TokenizerLoader.Load(manifest.Tokenizer, RepositoryPaths.DefaultModel));
    });

    public static ModelManifest Manifest => Model.Value.Manifest;

    public static Tokenizer Tokenizer => Model.Value.Tokenizer;

    public static PromptBuilder Prompts(IChatTemplate? template = null) =>
        new(Tokenizer, template ?? ChatTemplates.Get(Manifest.ChatTemplate), Manifest);
}
