namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>What admission made of one waiting request (<see cref="WaitingQueue.Admit"/>).</summary>
internal enum Admission
{
    /// <summary>Admitted: it leaves the queue and runs.</summary>
    Admitted,

    /// <summary>It does not fit yet (KV room, a staged restore): it stays, and younger ones may pass it, within the bound.</summary>
    Blocked,

    /// <summary>It can never run (it would not fit even alone): it leaves the queue and is ended by the caller.</summary>
    Refused,

    /// <summary>No room for anyone (the batch is full): the pass ends.</summary>
    Full,
}
