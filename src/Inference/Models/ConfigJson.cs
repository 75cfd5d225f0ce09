using System.Text.Json;

namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// Reads the loosely typed JSON configs exporters write (config.json, genai_config.json): the same number goes by
/// several names across architectures, and errors must name the file, since a folder holds several.
/// </summary>
internal static class ConfigJson
{
    private static readonly JsonDocumentOptions Options = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
    };

    public static JsonDocument Parse(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} not found", path);
        }

        try
        {
            var document = JsonDocument.Parse(File.ReadAllBytes(path), Options);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new InvalidDataException($"{path}: expected a JSON object");
            }

            return document;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex);
        }
    }

    public static JsonElement? Object(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Object
            ? value
            : throw new InvalidDataException($"{path}: '{name}' must be an object");
    }

    /// <summary>The first of <paramref name="names"/> that is present and not null.</summary>
    public static int? Int(JsonElement parent, string path, params string[] names)
    {
        foreach (var name in names)
        {
            if (parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number)
                    ? number
                    : throw new InvalidDataException($"{path}: '{name}' must be an integer, not {value.GetRawText()}");
            }
        }

        return null;
    }

    public static int RequiredInt(JsonElement parent, string path, params string[] names) =>
        Int(parent, path, names)
        ?? throw new InvalidDataException($"{path}: missing {string.Join(" / ", names.Select(n => $"'{n}'"))}");

    /// <summary>An id field that may be one integer or a list (eos_token_id is either, depending on the model).</summary>
    public static IReadOnlyList<int> IntOrList(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (value.ValueKind == JsonValueKind.Array)
        {
            return value.EnumerateArray()
                .Select(item => item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out var id)
                    ? id
                    : throw new InvalidDataException($"{path}: '{name}' must hold integers, not {item.GetRawText()}"))
                .ToList();
        }

        return [Int(parent, path, name)!.Value];
    }

    public static string? String(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new InvalidDataException($"{path}: '{name}' must be a string, not {value.GetRawText()}");
    }
}
