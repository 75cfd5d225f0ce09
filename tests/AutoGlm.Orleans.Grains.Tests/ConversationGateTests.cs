using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Turns;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class ConversationGateTests
{
    public static TheoryData<string> Changes => new("delete", "reset", "set-system-prompt", "import-history", "set-default-options", "create");

    [Theory]
    [MemberData(nameof(Changes))]
    public void Every_change_during_a_running_turn_is_busy(string operation)
    {
        var gate = new ConversationGate();
        var turn = new TurnRun("r1", 1, TimeProvider.System);
        gate.BeginTurn("c1", turn);
        var busy = Assert.Throws<ConversationBusyException>(() => gate.BeginChange("c1", operation));
        Assert.Contains("r1", busy.Message);
        Assert.Same(turn, gate.Turn);

        gate.EndTurn(turn);
        using (gate.BeginChange("c1", operation))
        {
            Assert.False(gate.IsIdle);
        }

        Assert.True(gate.IsIdle);
    }

    [Theory]
    [MemberData(nameof(Changes))]
    public void A_turn_or_another_change_during_a_change_is_busy(string operation)
    {
        var gate = new ConversationGate();
        using (gate.BeginChange("c1", operation))
        {
            Assert.Throws<ConversationBusyException>(() => gate.BeginTurn("c1", new TurnRun("r2", 2, TimeProvider.System)));
            Assert.Throws<ConversationBusyException>(() => gate.BeginChange("c1", "reset"));
        }

        gate.BeginTurn("c1", new TurnRun("r3", 3, TimeProvider.System));
    }

    [Fact]
    public void Ending_another_turn_does_not_free_the_gate()
    {
        var gate = new ConversationGate();
        var running = new TurnRun("r1", 1, TimeProvider.System);
        gate.BeginTurn("c1", running);
        gate.EndTurn(new TurnRun("r0", 0, TimeProvider.System));
        Assert.Same(running, gate.Turn);
    }
}
