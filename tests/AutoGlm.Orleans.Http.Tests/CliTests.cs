using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// The autoglm CLI as a user runs it: the built binary in its own process, against the run's real silo through its
/// gateway. Parse errors are exit 2, refusals and unreachable clusters exit 1, each one line on stderr.
/// </summary>
public sealed class CliTests(SiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Reply = ["--max-tokens", "4", "--temperature", "0"];

    [Theory]
    [InlineData("")]
    [InlineData("chat")]
    [InlineData("send")]
    [InlineData("history")]
    [InlineData("status")]
    public async Task Help_on_the_root_and_on_every_command_exits_0(string command)
    {
        var result = await CliProcess.RunAsync(command.Length == 0 ? ["--help"] : [command, "--help"], cancellationToken: Ct);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains(command.Length == 0 ? "autoglm [command] [options]" : $"autoglm {command}", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--gateway-port", result.Stdout, StringComparison.Ordinal);
        Assert.Empty(result.Stderr);
    }

    [Theory]
    [InlineData("send --max-tokens abc --conversation x hello", "--max-tokens")]
    [InlineData("send --conversation x --bogus hello", "--bogus")]
    [InlineData("history", "--conversation")]
    [InlineData("status --unknown", "--unknown")]
    [InlineData("chat --temperature warm", "--temperature")]
    [InlineData("", "command")]
    public async Task A_bad_command_line_is_one_line_on_stderr_and_exit_2(string arguments, string named)
    {
        var result = await CliProcess.RunAsync(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries), cancellationToken: Ct);

        Assert.True(result.ExitCode == 2, result.ToString());
        AssertOneLineError(result, named);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task Send_then_history_and_status_show_the_turn()
    {
        var id = "cli-" + Guid.NewGuid().ToString("N");

        var send = await Cli(["send", "--conversation", id, .. Reply, "Hello", "from", "the", "CLI."]);
        Assert.True(send.ExitCode == 0, send.ToString());
        Assert.Contains("prompt", Assert.Single(send.StderrLines), StringComparison.Ordinal);

        var history = await Cli(["history", "-c", id]);
        Assert.True(history.ExitCode == 0, history.ToString());
        Assert.Equal("[user] Hello from the CLI.", history.StdoutLines[0]);
        Assert.StartsWith("[assistant]", history.StdoutLines[1], StringComparison.Ordinal);
        Assert.Equal(2, history.StdoutLines.Length);

        var status = await Cli(["status", "--conversation", id]);
        Assert.True(status.ExitCode == 0, status.ToString());
        var fields = status.StdoutLines.Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        Assert.Equal(id, fields["conversation"]);
        Assert.Equal("default", fields["tenant"]);
        Assert.Equal("2", fields["messages"]);
        Assert.Equal("1", fields["turns"]);
        Assert.Equal("(none)", fields["default options"]);
    }

    [Fact]
    public async Task Status_prints_a_table_with_one_row_per_silo()
    {
        var result = await Cli(["status"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StdoutLines;
        Assert.Equal(2, lines.Length);
        foreach (var column in new[] { "SILO", "MODEL", "CONVERSATIONS", "RUNNING/WAITING", "KV USED/BUDGET", "EVICTIONS" })
        {
            Assert.Contains(column, lines[0], StringComparison.Ordinal);
        }

        // The fixture's silo: tiny-chat, a 256 MiB KV budget.
        Assert.Contains(server.Model, lines[1], StringComparison.Ordinal);
        Assert.Contains("/256.0 MiB (", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_sets_truncation_keeping_the_other_defaults_and_resets_the_conversation()
    {
        var id = "cli-chat-" + Guid.NewGuid().ToString("N");
        await using var client = await ClientHost.StartAsync(server, cancellationToken: Ct);
        await client.Conversations.SetDefaultOptionsAsync(id, new GenerationOptions { MaxNewTokens = 4, Temperature = 0 });

        var result = await Cli(["chat", "--conversation", id], "Hello there.\n/truncation auto\n/history\n/reset\n/history\n/bogus\n/truncation sometimes\n/exit\n");

        Assert.True(result.ExitCode == 0, result.ToString());
        var output = result.Stdout;
        var reset = output.IndexOf("[conversation reset]", StringComparison.Ordinal);
        Assert.True(reset > 0, result.ToString());
        var before = output[..reset];
        var after = output[reset..];
        Assert.Contains("[truncation auto]", before, StringComparison.Ordinal);
        Assert.Contains("[user] Hello there.", before, StringComparison.Ordinal);
        Assert.Contains("[assistant]", before, StringComparison.Ordinal);
        Assert.Contains("[no messages]", after, StringComparison.Ordinal);
        Assert.DoesNotContain("[user]", after, StringComparison.Ordinal);
        Assert.Contains("[unknown command /bogus; /help lists the commands]", after, StringComparison.Ordinal);
        Assert.Contains("[usage: /truncation auto|disabled]", after, StringComparison.Ordinal);

        var status = await client.Conversations.GetStatusAsync(id);
        Assert.Equal(new GenerationOptions { MaxNewTokens = 4, Temperature = 0, Truncation = TruncationMode.Auto }, status.DefaultOptions);
        Assert.Empty(await client.Conversations.GetHistoryAsync(id));
    }

    [Fact]
    public async Task History_of_an_unknown_conversation_is_one_line_and_exit_1()
    {
        var id = "cli-never-" + Guid.NewGuid().ToString("N");

        var result = await Cli(["history", "--conversation", id]);

        Assert.True(result.ExitCode == 1, result.ToString());
        AssertOneLineError(result, $"conversation '{id}' does not exist");
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task No_silo_at_the_gateway_port_is_one_line_and_exit_1()
    {
        var port = SiloServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var result = await CliProcess.RunAsync(["status", "--gateway-port", port, "--connect-timeout", "2"], cancellationToken: Ct);

        Assert.True(result.ExitCode == 1, result.ToString());
        AssertOneLineError(result, "cannot reach the cluster");
    }

    /// <summary>One line on stderr naming <paramref name="expected"/>, and no stack frame.</summary>
    internal static void AssertOneLineError(CliResult result, string expected)
    {
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("autoglm: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stdout, StringComparison.Ordinal);
    }

    private Task<CliResult> Cli(string[] arguments, string? stdin = null) =>
        CliProcess.RunAsync([.. arguments, .. CliProcess.Gateway(server)], stdin, Ct);
}
