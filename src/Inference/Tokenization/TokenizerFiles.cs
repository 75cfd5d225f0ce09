namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>Reads tokenizer files whole, so every later failure is the content's fault and can say which file.</summary>
internal static class TokenizerFiles
{
    public static byte[] ReadAll(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{what} {path} not found", path);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0)
        {
            throw new InvalidDataException($"{path}: empty {what}");
        }

        return bytes;
    }

    /// <summary>
    /// Whether an exception thrown while parsing in-memory bytes means the bytes were bad: the libraries signal
    /// that with whatever type they like (FormatException, ArgumentException, protobuf's IOException subclass…).
    /// </summary>
    public static bool IsContentError(Exception ex) =>
        ex is not (OutOfMemoryException or InvalidDataException or OperationCanceledException);
}
