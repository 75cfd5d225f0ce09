namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// The chat template a Hugging Face model_type is served with when no model.json says otherwise. Exports carry the
/// Jinja template, which we do not run; the names here are the prompt builders we ship.
/// </summary>
public static class ChatTemplateNames
{
    public static string? ForModelType(string modelType) => modelType.ToLowerInvariant() switch
    {
        "gpt2" => "tiny-chat",
        "qwen2" => "chatml",
        "llama" => "llama3",
        "chatglm" or "glm4" or "glm" => "glm4",
        _ => null,
    };
}
