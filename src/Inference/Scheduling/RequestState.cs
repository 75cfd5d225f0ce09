namespace AutoGlm.Orleans.Inference.Scheduling;

internal enum RequestState
{
    Waiting,
    Prefilling,
    Decoding,
    Finished,
}
