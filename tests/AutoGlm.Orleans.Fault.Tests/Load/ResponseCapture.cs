using System.Text;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>What the SDK's pipeline saw of one attempt: the status, when the headers came, and the raw body bytes.</summary>
public sealed class ResponseCapture
{
    private const int MaxBytes = 1 << 20;
    private readonly MemoryStream _body = new();
    private readonly object _gate = new();

    public int? Status { get; set; }

    public TimeSpan? Headers { get; set; }

    public string Body
    {
        get
        {
            lock (_gate)
            {
                return Encoding.UTF8.GetString(_body.GetBuffer(), 0, (int)_body.Length);
            }
        }
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            if (_body.Length + bytes.Length <= MaxBytes)
            {
                _body.Write(bytes);
            }
        }
    }
}
