using System.ClientModel.Primitives;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// A per-call pipeline policy for the OpenAI SDK: adds the turn's headers (<c>X-Conversation-Id</c>,
/// <c>Idempotency-Key</c>) to the request, and records the response's status, the time of its headers and (for a
/// stream, which the pipeline does not buffer) every body byte the SDK reads.
/// </summary>
public sealed class TurnHeadersPolicy(IReadOnlyList<KeyValuePair<string, string>> headers, ResponseCapture capture, RunClock clock)
    : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ArgumentNullException.ThrowIfNull(message);
        AddHeaders(message);
        ProcessNext(message, pipeline, currentIndex);
        Capture(message);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ArgumentNullException.ThrowIfNull(message);
        AddHeaders(message);
        await ProcessNextAsync(message, pipeline, currentIndex);
        Capture(message);
    }

    private void AddHeaders(PipelineMessage message)
    {
        foreach (var (name, value) in headers)
        {
            message.Request.Headers.Set(name, value);
        }
    }

    private void Capture(PipelineMessage message)
    {
        if (message.Response is not { } response)
        {
            return;
        }

        capture.Headers = clock.Now;
        capture.Status = response.Status;
        if (message.BufferResponse)
        {
            capture.Append(response.Content.ToMemory().Span);
        }
        else if (response.ContentStream is { } stream)
        {
            response.ContentStream = new RecordingStream(stream, capture);
        }
    }
}
