using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// Writes one chat completion from a started <see cref="TurnCall"/>, in OpenAI's shapes: a chat.completion object,
/// or chat.completion.chunk events ending with <c>[DONE]</c>. A stream that cannot finish ends with an error event.
/// </summary>
internal sealed class ChatReply(HttpContext context, MappedChatRequest request, ILogger logger)
{
    private readonly string _id = "chatcmpl-" + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>
    /// Writes the whole reply as JSON; returns its text. <paramref name="beforeEnd"/> gets the reply's text once it is
    /// whole and before the client can see the end of it: what must hold before the client's next request (the index).
    /// </summary>
    public async Task<string?> WholeAsync(TurnCall call, Func<string, Task> beforeEnd, CancellationToken ct)
    {
        var text = new System.Text.StringBuilder();
        var final = await ConversationsEndpoints.ReadToEndAsync(call, text);
        var reply = text.ToString();
        await beforeEnd(reply);
        await context.Response.WriteAsJsonAsync(new ChatCompletion(_id, "chat.completion", _created, request.Model,
                [new ChatCompletionChoice(0, new ChatCompletionResponseMessage("assistant", reply), final.FinishReason.ToOpenAi())],
                final.Usage.ToOpenAi()),
            HttpJsonContext.Default.ChatCompletion, contentType: "application/json", cancellationToken: ct);
        return reply;
    }

    /// <summary>
    /// Streams the reply as server-sent events; returns its text, or null when it ended with an error event.
    /// <paramref name="beforeEnd"/> as in <see cref="WholeAsync"/>: before the finish chunk and [DONE] go out.
    /// </summary>
    public async Task<string?> StreamAsync(TurnCall call, Func<string, Task> beforeEnd, CancellationToken ct)
    {
        var events = new ServerSentEvents(context.Response);
        events.Start();
        var text = new System.Text.StringBuilder();
        try
        {
            var counts = request.IncludeTokenCounts;
            var tokens = 0;
            await events.WriteAsync(Chunk(new ChatCompletionDelta(Role: "assistant", Content: string.Empty), null, counts ? 0 : null),
                HttpJsonContext.Default.ChatCompletionChunk, ct);
            do
            {
                var chunk = call.Current;
                text.Append(chunk.Text);
                var added = chunk.TokenIds?.Count ?? 0;
                tokens += added;
                // With token counts, tokens that completed no text yet still get their chunk: the client sees each
                // token when it was generated, not when its character was whole.
                if (chunk.Text.Length > 0 || (counts && added > 0))
                {
                    await events.WriteAsync(Chunk(new ChatCompletionDelta(Content: chunk.Text), null, counts ? tokens : null),
                        HttpJsonContext.Default.ChatCompletionChunk, ct);
                }

                if (chunk.IsFinal)
                {
                    var reply = text.ToString();
                    await beforeEnd(reply);
                    await events.WriteAsync(Chunk(new ChatCompletionDelta(), chunk.FinishReason.ToOpenAi(), counts ? tokens : null),
                        HttpJsonContext.Default.ChatCompletionChunk, ct);
                    if (request.IncludeUsage)
                    {
                        await events.WriteAsync(new ChatCompletionChunk(_id, "chat.completion.chunk", _created, request.Model, [], chunk.Usage.ToOpenAi()),
                            HttpJsonContext.Default.ChatCompletionChunk, ct);
                    }

                    await events.WriteDoneAsync(ct);
                    return reply;
                }
            }
            while (await call.MoveNextAsync());

            throw new ConversationException("the reply ended without a finish reason");
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Mid-stream: the status is sent; tell the client in the stream, as OpenAI does.
            await events.WriteErrorAsync(ex, logger);
            return null;
        }
    }

    private ChatCompletionChunk Chunk(ChatCompletionDelta delta, string? finish, int? completionTokens) =>
        new(_id, "chat.completion.chunk", _created, request.Model, [new ChatCompletionChunkChoice(0, delta, finish)], CompletionTokens: completionTokens);
}
