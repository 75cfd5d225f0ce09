using System.ClientModel.Primitives;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>Adds fixed headers to every request of an OpenAI SDK client (X-Conversation-Id, Idempotency-Key).</summary>
internal sealed class HeadersPolicy(params (string Name, string Value)[] headers) : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Add(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Add(message);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    private void Add(PipelineMessage message)
    {
        foreach (var (name, value) in headers)
        {
            message.Request.Headers.Set(name, value);
        }
    }
}
