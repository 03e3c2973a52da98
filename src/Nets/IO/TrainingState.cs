using System.Globalization;
using System.Text.Json;

namespace Kernels.Nets.IO;

/// <summary>The saved state of one part of training: named tensors plus string metadata. A
/// module's state dict is tensors only; an optimizer's is tensors (moments, step counts) plus
/// metadata (hyperparameters); a schedule's is metadata only. Plain data, so the checkpoint code
/// needs no reference to Module, Optimizer or LrSchedule.</summary>
public sealed record TrainingState(IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    private static readonly IReadOnlyDictionary<string, Tensor> NoTensors = new OrderedDictionary<string, Tensor>();
    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    public static TrainingState Empty { get; } = new(NoTensors, NoMetadata);

    public static TrainingState OfTensors(IReadOnlyDictionary<string, Tensor> tensors) => new(tensors, NoMetadata);

    public static TrainingState OfMetadata(IReadOnlyDictionary<string, string> metadata) => new(NoTensors, metadata);

    /// <summary>Writes this state alone as a safetensors file (atomically).</summary>
    public void Save(string path) => SafeTensors.Save(path, Tensors, Metadata);

    /// <summary>Reads a safetensors file as a state; the caller owns the tensors.</summary>
    public static TrainingState Load(string path, Device? device = null)
    {
        using var reader = SafeTensorsReader.Open(path);
        return new TrainingState(reader.ReadAll(device), reader.Metadata);
    }

    /// <summary>Disposes the tensors (for states that were loaded and are no longer needed).</summary>
    public void DisposeTensors()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>Saves and restores the state of an <see cref="Rng"/> as text: four 64-bit words, each
/// as 16 lower-case hex digits, in a JSON array (metadata values are strings).</summary>
public static class RngState
{
    public static string[] ToHex(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 4) throw new ArgumentException($"RngState.ToHex: an Rng state has 4 words, got {state.Length}");
        var hex = new string[4];
        for (int i = 0; i < 4; i++) hex[i] = state[i].ToString("x16", CultureInfo.InvariantCulture);
        return hex;
    }

    public static ulong[] FromHex(IReadOnlyList<string> hex)
    {
        if (hex.Count != 4) throw new ArgumentException($"RngState.FromHex: an Rng state has 4 words, got {hex.Count}");
        var state = new ulong[4];
        for (int i = 0; i < 4; i++)
            if (hex[i] is null || hex[i].Length is 0 or > 16 ||
                !ulong.TryParse(hex[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out state[i]))
                throw new ArgumentException($"RngState.FromHex: word {i} is '{hex[i]}', not 1 to 16 hex digits");
        if (state.All(w => w == 0)) throw new ArgumentException("RngState.FromHex: a state of all zeros is invalid");
        return state;
    }

    /// <summary>The generator's state as a metadata value, e.g. ["9e37…","…","…","…"].</summary>
    public static string Encode(Rng rng) => Encode(rng.GetState());

    public static string Encode(ReadOnlySpan<ulong> state) => JsonSerializer.Serialize(ToHex(state));

    public static ulong[] Decode(string text)
    {
        string[]? hex;
        try
        {
            hex = JsonSerializer.Deserialize<string[]>(text);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"RngState.Decode: '{text}' is not a JSON array of 4 hex strings ({e.Message})");
        }
        return FromHex(hex ?? throw new ArgumentException($"RngState.Decode: '{text}' is not a JSON array of 4 hex strings"));
    }

    public static void Restore(Rng rng, string text) => rng.SetState(Decode(text));
}
