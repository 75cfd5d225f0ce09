using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// One client: a conversation at a time, turns back to back (a short think time between them) until told to stop,
/// a new conversation every <see cref="LoadSettings.MaxTurnsPerConversation"/> turns. REST lanes create their
/// conversations with <c>POST /conversations</c>; SDK lanes name theirs with <c>X-Conversation-Id</c> on the first
/// turn. Streaming and non-streaming turns alternate, out of phase between lanes.
/// </summary>
public sealed class ClientLane(int lane, bool sdk, string runTag, Ledger ledger, FailoverRunner runner, RestTransport rest, SdkTransport openAi,
    RunClock clock, LoadSettings settings, int endpoints)
{
    private static readonly string[] Questions =
    [
        "What does String.Trim do?",
        "How do I add an item to a List?",
        "What is a Dictionary used for?",
        "Explain async and await briefly.",
        "What does Console.WriteLine print?",
        "How do I read a file in C#?",
    ];

    private int _turnsBegun;

    public int Lane => lane;

    /// <summary>Runs turns until <paramref name="stop"/>; <paramref name="hard"/> abandons the turn in progress.</summary>
    public async Task RunAsync(CancellationToken stop, CancellationToken hard)
    {
        string? conversation = null;
        string? silo = null;
        var sequence = 0;
        var number = 0;
        while (!stop.IsCancellationRequested && !hard.IsCancellationRequested)
        {
            if (conversation is null || number >= settings.MaxTurnsPerConversation)
            {
                sequence++;
                conversation = string.Create(CultureInfo.InvariantCulture, $"{runTag}-{(sdk ? "sdk" : "rest")}{lane:D2}-c{sequence}");
                number = 0;
                silo = null;
                if (!sdk && !await CreateAsync(conversation, hard))
                {
                    conversation = null;
                    await ThinkAsync(stop);
                    continue;
                }
            }

            number++;
            var streaming = (number + lane) % 2 == 0;
            var kind = sdk ? (streaming ? TurnKind.SdkStream : TurnKind.SdkJson) : (streaming ? TurnKind.RestStream : TurnKind.RestJson);
            var turn = NewTurn(conversation, number, kind,
                string.Create(CultureInfo.InvariantCulture, $"Turn {number} of {conversation}: {Questions[(number + lane) % Questions.Length]}"), silo);
            await runner.RunAsync(turn, sdk ? openAi.SendAsync : rest.SendAsync, hard);
            silo = turn.AcknowledgedBy?.Silo ?? silo;
            if (!turn.Acknowledged && turn.GaveUp?.Contains("404", StringComparison.Ordinal) == true)
            {
                conversation = null; // the conversation is gone for the server: carry on with a new one (the audit reports the loss)
            }

            await ThinkAsync(stop);
        }
    }

    private async Task<bool> CreateAsync(string conversation, CancellationToken hard)
    {
        var create = NewTurn(conversation, 0, TurnKind.Create, string.Empty, null);
        await runner.RunAsync(create, rest.CreateAsync, hard);
        return create.Acknowledged;
    }

    private TurnRecord NewTurn(string conversation, int number, TurnKind kind, string content, string? previousSilo)
    {
        var turn = new TurnRecord
        {
            Lane = lane,
            ConversationId = conversation,
            Number = number,
            Key = string.Create(CultureInfo.InvariantCulture, $"{conversation}-{(number == 0 ? "create" : "t" + number.ToString("D2", CultureInfo.InvariantCulture))}"),
            Kind = kind,
            Content = content,
            Started = clock.Now,
            FirstEndpoint = (lane + _turnsBegun++) % endpoints,
            PreviousSilo = previousSilo,
        };
        ledger.Add(turn);
        return turn;
    }

    private async Task ThinkAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(settings.ThinkTime, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
