using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// What a request asked, in 8 bytes: a retried request id must come with the same request. SHA-256 (truncated)
/// over length-prefixed fields, so no two requests share an encoding.
/// </summary>
public static class RequestFingerprint
{
    public static ulong Of(string operation, string? text = null, GenerationOptions? options = null)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Add(hash, operation);
        Add(hash, text);
        if (options is not null)
        {
            Add(hash, options.Temperature?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.TopK?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.TopP?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.RepetitionPenalty?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.Seed?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.MaxNewTokens?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Add(hash, options.IgnoreEndOfTurn?.ToString());
            if (options.Truncation is { } truncation)
            {
                // Only when set: fingerprints stored before the field existed stay valid.
                Add(hash, "truncation:" + truncation);
            }

            foreach (var stop in options.StopSequences ?? [])
            {
                Add(hash, stop);
            }
        }

        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }

    private static void Add(IncrementalHash hash, string? value)
    {
        Span<byte> length = stackalloc byte[4];
        if (value is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(length, -1);
            hash.AppendData(length);
            return;
        }

        BinaryPrimitives.WriteInt32LittleEndian(length, Encoding.UTF8.GetByteCount(value));
        hash.AppendData(length);
        hash.AppendData(Encoding.UTF8.GetBytes(value));
    }
}
