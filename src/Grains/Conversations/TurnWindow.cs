namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// Where a truncating turn moves the model's view: <see cref="Index"/> in the live messages of the first one it
/// keeps, <see cref="Head"/> the template's opening ids when no system prompt carries them, and
/// <see cref="DroppedTokens"/> the message tokens left out of the view from this turn on.
/// </summary>
public sealed record TurnWindow(int Index, int[] Head, int DroppedTokens);
