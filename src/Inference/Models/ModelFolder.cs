namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// Loads a model folder's manifest: our model.json when there is one, otherwise one derived from what an
/// onnxruntime-genai export (genai_config.json) or a Hugging Face Optimum export (config.json) ships with, so
/// such folders can be served without writing a model.json by hand.
/// </summary>
public static class ModelFolder
{
    public static ModelManifest Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"model folder {directory} not found");
        }

        if (File.Exists(Path.Combine(directory, ModelManifest.FileName)))
        {
            return ModelManifest.Load(directory);
        }

        // genai_config.json describes the graph actually in the folder; a config.json beside it describes the
        // checkpoint the graph was built from, so genai wins.
        if (File.Exists(Path.Combine(directory, GenAiExportReader.ConfigFile)))
        {
            return GenAiExportReader.Read(directory);
        }

        if (File.Exists(Path.Combine(directory, OptimumExportReader.ConfigFile)))
        {
            return OptimumExportReader.Read(directory);
        }

        throw new FileNotFoundException(
            $"{directory}: no {ModelManifest.FileName}, {GenAiExportReader.ConfigFile} or {OptimumExportReader.ConfigFile}",
            Path.Combine(directory, ModelManifest.FileName));
    }

    internal static string NameOf(string directory) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));

    internal static string ChatTemplateFor(string modelType, string path) =>
        ChatTemplateNames.ForModelType(modelType)
        ?? throw new InvalidDataException(
            $"{path}: no chat template known for model type '{modelType}'; describe the model in a {ModelManifest.FileName}");

    /// <summary>Ids of <paramref name="first"/> then those of <paramref name="second"/> not already seen.</summary>
    internal static IReadOnlyList<int> Union(IReadOnlyList<int> first, IReadOnlyList<int> second) =>
        first.Concat(second).Distinct().ToList();
}
