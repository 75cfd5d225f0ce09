namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>What one ledger entry sent.</summary>
public enum TurnKind
{
    /// <summary>POST /conversations (not a turn: the REST lanes' setup, retried like one).</summary>
    Create,

    /// <summary>POST /conversations/{id}/messages, JSON reply.</summary>
    RestJson,

    /// <summary>POST /conversations/{id}/messages with "stream": true (SSE).</summary>
    RestStream,

    /// <summary>The OpenAI SDK's CompleteChatAsync.</summary>
    SdkJson,

    /// <summary>The OpenAI SDK's CompleteChatStreamingAsync.</summary>
    SdkStream,
}
