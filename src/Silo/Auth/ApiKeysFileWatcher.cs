using AutoGlm.Orleans.Grains.Tenancy;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// Loads the keys file into the <see cref="ApiKeyStore"/> before the silo serves anything (a bad file stops the
/// start), then re-reads it whenever it changes. A change that does not parse keeps the keys loaded before (and is
/// logged as an error), so a typo never opens or closes the API.
/// </summary>
public sealed class ApiKeysFileWatcher : IDisposable
{
    private readonly string _path;
    private readonly ApiKeyStore _store;
    private readonly ILogger _logger;
    private readonly PhysicalFileProvider _files;
    private readonly IDisposable _subscription;

    private ApiKeysFileWatcher(string path, ApiKeyStore store, ILogger logger)
    {
        _path = Path.GetFullPath(path);
        _store = store;
        _logger = logger;
        _store.Replace(ApiKeysFile.Parse(File.ReadAllText(_path)));
        _files = new PhysicalFileProvider(Path.GetDirectoryName(_path)!) { UsePollingFileWatcher = true, UseActivePolling = true };
        _subscription = ChangeToken.OnChange(() => _files.Watch(Path.GetFileName(_path)), Reload);
    }

    /// <exception cref="InvalidDataException">The file does not parse.</exception>
    /// <exception cref="IOException">It cannot be read.</exception>
    public static ApiKeysFileWatcher Start(string path, ApiKeyStore store, ILogger logger)
    {
        var watcher = new ApiKeysFileWatcher(path, store, logger);
        logger.LogInformation("API keys: {Count} keys from {Path}", store.Count, watcher._path);
        return watcher;
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _files.Dispose();
    }

    private void Reload()
    {
        try
        {
            _store.Replace(ApiKeysFile.Parse(File.ReadAllText(_path)));
            _logger.LogInformation("API keys reloaded: {Count} keys from {Path}", _store.Count, _path);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            _logger.LogError("API keys file {Path} was not reloaded (the keys loaded before stay): {Reason}", _path, ex.Message);
        }
    }
}
