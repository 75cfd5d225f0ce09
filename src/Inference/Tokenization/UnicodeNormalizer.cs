using System.Text;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>The NFC/NFKC/... normalizers a tokenizer.json may declare (Qwen2 uses NFC).</summary>
public sealed class UnicodeNormalizer : Normalizer
{
    private readonly NormalizationForm _form;

    public UnicodeNormalizer(NormalizationForm form) => _form = form;

    public NormalizationForm Form => _form;

    public override string Normalize(string original)
    {
        ArgumentNullException.ThrowIfNull(original);
        return original.Normalize(_form);
    }

    public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(_form);
}
