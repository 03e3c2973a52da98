using System.Globalization;

namespace Kernels.Nets.IO;

/// <summary>Everything needed to resume training, in ONE safetensors file: the model's state dict
/// under "model.&lt;name&gt;", the optimizer's tensors under "optim.&lt;name&gt;", the EMA weights
/// under "ema.&lt;name&gt;", and metadata: format and version, step, epoch, the RNG state, each
/// part's own metadata under its prefix ("optim.lr", "schedule.last_epoch", ...) and free-form
/// entries under "extra.". Saved atomically, so a crash mid-save keeps the previous checkpoint.</summary>
/// <remarks>The file is an ordinary safetensors file: PyTorch tools can read the weights back by
/// stripping the "model." prefix.</remarks>
public sealed class TrainingCheckpoint : IDisposable
{
    public const string FormatName = "kernels.training-checkpoint";
    public const int FormatVersion = 1;

    public const string ModelPrefix = "model";
    public const string OptimizerPrefix = "optim";
    public const string EmaPrefix = "ema";
    public const string SchedulePrefix = "schedule";
    public const string ExtraPrefix = "extra";

    // Top-level metadata keys (no dot, so they cannot clash with a prefixed key).
    private const string FormatKey = "format", VersionKey = "format_version", StepKey = "step",
        EpochKey = "epoch", RngKey = "rng", PartsKey = "parts";

    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    private bool _ownsTensors;

    public long Step { get; init; }
    public int Epoch { get; init; }
    public TrainingState Model { get; init; } = TrainingState.Empty;
    public TrainingState? Optimizer { get; init; }
    public TrainingState? Ema { get; init; }

    /// <summary>The learning-rate schedule's state (metadata only).</summary>
    public IReadOnlyDictionary<string, string> Schedule { get; init; } = NoMetadata;

    /// <summary>The generator's four state words (<see cref="Rng.GetState"/>), or null when not saved.</summary>
    public ulong[]? RngState { get; init; }

    /// <summary>Free-form entries: model name, configuration, data-loader position, ...</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = NoMetadata;

    /// <summary>Sets <paramref name="rng"/> back to the saved state, so the rest of the run draws
    /// the same numbers as an uninterrupted one.</summary>
    public void RestoreRng(Rng rng)
    {
        if (RngState is null) throw new InvalidOperationException("this checkpoint holds no RNG state");
        rng.SetState(RngState);
    }

    public void Save(string path)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = FormatName,
            [VersionKey] = FormatVersion.ToString(CultureInfo.InvariantCulture),
            [StepKey] = Step.ToString(CultureInfo.InvariantCulture),
            [EpochKey] = Epoch.ToString(CultureInfo.InvariantCulture),
        };
        if (RngState is not null) meta[RngKey] = IO.RngState.Encode(RngState);

        var parts = new List<string>();
        void AddPart(string prefix, TrainingState? state)
        {
            if (state is null) return;
            parts.Add(prefix);
            foreach (var (name, t) in state.Tensors)
            {
                if (string.IsNullOrEmpty(name)) throw new ArgumentException($"TrainingCheckpoint.Save: the {prefix} state has a tensor with an empty name");
                tensors.Add(new($"{prefix}.{name}", t));
            }
            AddMetadata(prefix, state.Metadata);
        }
        void AddMetadata(string prefix, IReadOnlyDictionary<string, string> m)
        {
            foreach (var (k, v) in m)
            {
                if (string.IsNullOrEmpty(k)) throw new ArgumentException($"TrainingCheckpoint.Save: the {prefix} metadata has an empty key");
                meta[$"{prefix}.{k}"] = v;
            }
        }

        AddPart(ModelPrefix, Model);
        AddPart(OptimizerPrefix, Optimizer);
        AddPart(EmaPrefix, Ema);
        AddMetadata(SchedulePrefix, Schedule);
        AddMetadata(ExtraPrefix, Extra);
        // Which parts exist, so that an optimizer with no tensors and no metadata still round-trips as present.
        meta[PartsKey] = string.Join(",", parts);
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>Reads a checkpoint; its tensors go to <paramref name="device"/> and belong to the
    /// returned object (dispose it, or take them over and let it go).</summary>
    public static TrainingCheckpoint Load(string path, Device? device = null)
    {
        using var reader = SafeTensorsReader.Open(path);
        var m = reader.Metadata;
        string Need(string key) => m.TryGetValue(key, out var v)
            ? v
            : throw SafeTensorsFormat.Error(path, $"metadata '{key}' is missing, so this is not a training checkpoint");
        if (Need(FormatKey) != FormatName)
            throw SafeTensorsFormat.Error(path, $"metadata 'format' is '{m[FormatKey]}', not '{FormatName}'");
        if (!int.TryParse(Need(VersionKey), NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version < 1)
            throw SafeTensorsFormat.Error(path, $"metadata 'format_version' is '{m[VersionKey]}', not a positive integer");
        if (version > FormatVersion)
            throw SafeTensorsFormat.Error(path, $"the checkpoint has format version {version}; this build reads up to {FormatVersion} (update the engine)");
        if (!long.TryParse(Need(StepKey), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw SafeTensorsFormat.Error(path, $"metadata 'step' is '{m[StepKey]}', not a non-negative integer");
        if (!int.TryParse(Need(EpochKey), NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
            throw SafeTensorsFormat.Error(path, $"metadata 'epoch' is '{m[EpochKey]}', not a non-negative integer");
        ulong[]? rng = null;
        if (m.TryGetValue(RngKey, out var rngText))
        {
            try
            {
                rng = IO.RngState.Decode(rngText);
            }
            catch (ArgumentException e)
            {
                throw SafeTensorsFormat.Error(path, $"metadata 'rng' is unusable: {e.Message}");
            }
        }
        var parts = Need(PartsKey).Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);

        // Check every tensor's prefix before reading any data.
        var known = new[] { ModelPrefix, OptimizerPrefix, EmaPrefix };
        foreach (var t in reader.Header.Tensors)
        {
            int dot = t.Name.IndexOf('.');
            var prefix = dot > 0 ? t.Name[..dot] : "";
            if (!known.Contains(prefix) || dot == t.Name.Length - 1)
                throw SafeTensorsFormat.Error(path, $"tensor '{t.Name}' is not under model., optim. or ema.");
            if (!parts.Contains(prefix))
                throw SafeTensorsFormat.Error(path, $"tensor '{t.Name}' belongs to the part '{prefix}', which 'parts' does not list");
        }

        var all = reader.ReadAll(device);
        try
        {
            TrainingState? Part(string prefix)
            {
                if (!parts.Contains(prefix)) return null;
                var tensors = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var (name, t) in all)
                    if (name.StartsWith(prefix + ".", StringComparison.Ordinal)) tensors.Add(name[(prefix.Length + 1)..], t);
                return new TrainingState(tensors, Section(m, prefix));
            }

            return new TrainingCheckpoint
            {
                Step = step,
                Epoch = epoch,
                Model = Part(ModelPrefix) ?? TrainingState.Empty,
                Optimizer = Part(OptimizerPrefix),
                Ema = Part(EmaPrefix),
                Schedule = Section(m, SchedulePrefix),
                Extra = Section(m, ExtraPrefix),
                RngState = rng,
                _ownsTensors = true,
            };
        }
        catch
        {
            foreach (var t in all.Values) t.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> Section(IReadOnlyDictionary<string, string> m, string prefix)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in m)
            if (k.Length > prefix.Length + 1 && k.StartsWith(prefix + ".", StringComparison.Ordinal))
                d[k[(prefix.Length + 1)..]] = v;
        return d;
    }

    /// <summary>Disposes the tensors of a loaded checkpoint (a checkpoint built for saving does not
    /// own its tensors and leaves them alone).</summary>
    public void Dispose()
    {
        if (!_ownsTensors) return;
        _ownsTensors = false;
        Model.DisposeTensors();
        Optimizer?.DisposeTensors();
        Ema?.DisposeTensors();
    }
}
