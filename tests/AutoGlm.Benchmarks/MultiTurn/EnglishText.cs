using System.Text;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// User messages in the default model's own domain (tools/model/build_corpus.py): questions about .NET types
/// and requests for quotes, in plain English, so the tokenizer sees realistic text rather than random ids.
/// Sentences are added until the message reaches the drawn token count, then the ids are cut to exactly it.
/// </summary>
public sealed class EnglishText(Tokenizer tokenizer)
{
    private static readonly string[] Types =
    [
        "String", "List", "Dictionary", "HttpClient", "Stream", "Task", "CancellationToken", "StringBuilder",
        "Console", "File", "Path", "DateTime", "TimeSpan", "Guid", "Random", "Math", "Array", "Span",
        "Memory", "Enumerable", "Queue", "Stack", "HashSet", "Lazy", "Timer", "Thread", "Monitor", "Encoding",
    ];

    private static readonly string[] Members =
    [
        "Dispose", "TryGetValue", "Add", "Remove", "Contains", "ToString", "Equals", "GetHashCode", "CopyTo",
        "Clear", "Trim", "Split", "Parse", "TryParse", "Wait", "Run", "Delay", "Flush", "ReadAsync", "WriteLine",
    ];

    private static readonly string[] Topics =
    [
        "love", "work", "science", "computers", "friendship", "time", "money", "patience", "courage", "learning",
        "music", "the sea", "failure", "success", "happiness", "change",
    ];

    private static readonly string[] Questions =
    [
        "What does the {1} method of {0} do?",
        "What is {0} for?",
        "How should I use {0} in a service that runs for days?",
        "Can you explain when {0}.{1} throws an exception?",
        "Is {0} thread safe, and what happens if two threads call {1} at once?",
        "Why would I pick {0} over a plain array?",
        "Give me a quote about {2}.",
        "Tell me something funny about {2}.",
        "Do you know a short saying about {2} that I could put on a slide?",
        "Thank you, that helps a lot.",
        "Please also show an example of {0}.{1} with a small program.",
        "What is the difference between {0} and {3}?",
    ];

    /// <summary>English text of exactly <paramref name="tokens"/> tokens when encoded on its own.</summary>
    public string Next(Random random, int tokens)
    {
        ArgumentNullException.ThrowIfNull(random);
        var text = new StringBuilder();
        while (tokenizer.CountTokens(text.ToString()) < tokens)
        {
            var sentence = string.Format(System.Globalization.CultureInfo.InvariantCulture,
                Questions[random.Next(Questions.Length)],
                Types[random.Next(Types.Length)], Members[random.Next(Members.Length)],
                Topics[random.Next(Topics.Length)], Types[random.Next(Types.Length)]);
            text.Append(text.Length == 0 ? "" : " ").Append(sentence);
        }

        var ids = tokenizer.EncodeToIds(text.ToString());
        if (ids.Count == tokens)
        {
            return text.ToString();
        }

        // Cut on a token boundary; a word split in two still reads as text and keeps the count exact.
        var cut = tokenizer.Decode(ids.Take(tokens)) ?? "";
        return cut.TrimEnd();
    }
}
