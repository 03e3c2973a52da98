using System.Globalization;
using System.Text.Json;
using Kernels.Nets.IO;
using Kernels.Nets.Models.Backbones;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>The architecture of a backbone + head classifier: what a checkpoint's metadata must
/// say so that eval and predict can rebuild the model (keys "backbone", "head", "classes",
/// "groups", "embed_dim", "heads", "feed_forward", "image_size").</summary>
public sealed record MlDecoderSpec(string Backbone, string Head, int Classes, int Groups, int EmbedDim, int Heads,
    int FeedForward, int ImageSize)
{
    public const string BackboneKey = "backbone", HeadKey = "head", ClassesKey = "classes", GroupsKey = "groups",
        EmbedDimKey = "embed_dim", HeadsKey = "heads", FeedForwardKey = "feed_forward", ImageSizeKey = "image_size",
        ClassNamesKey = "class_names", ZeroShotKey = "zero_shot";

    /// <summary>K as the head resolves it: −1 (or 0) → min(100, N), capped at N.</summary>
    public int ResolvedGroups => Math.Min(Groups <= 0 ? 100 : Groups, Classes);

    public MultiLabelClassifier Build(Device device)
    {
        Backbone body = Backbone switch
        {
            "resnet18" => ResNet.ResNet18(device: device),
            "resnet50" => ResNet.ResNet50(device: device),
            "tiny-tresnet" => new TinyTResNet(device: device),
            _ => throw new ArgumentException($"backbone '{Backbone}': use tiny-tresnet, resnet18 or resnet50"),
        };
        ClassifierHead head = Head switch
        {
            "gap" => new GapHead(body.OutChannels, Classes, device: device),
            "ml-decoder" => new MlDecoderHead(body.OutChannels, Classes, Groups, EmbedDim, Heads, FeedForward, device: device),
            _ => throw new ArgumentException($"head '{Head}': use ml-decoder or gap"),
        };
        var model = new MultiLabelClassifier(body, head);
        model.To(device);
        return model;
    }

    public Dictionary<string, string> ToMetadata() => new(StringComparer.Ordinal)
    {
        [BackboneKey] = Backbone,
        [HeadKey] = Head,
        [ClassesKey] = Classes.ToString(CultureInfo.InvariantCulture),
        [GroupsKey] = ResolvedGroups.ToString(CultureInfo.InvariantCulture),
        [EmbedDimKey] = EmbedDim.ToString(CultureInfo.InvariantCulture),
        [HeadsKey] = Heads.ToString(CultureInfo.InvariantCulture),
        [FeedForwardKey] = FeedForward.ToString(CultureInfo.InvariantCulture),
        [ImageSizeKey] = ImageSize.ToString(CultureInfo.InvariantCulture),
    };

    public override string ToString() => Head == "gap"
        ? $"{Backbone} + gap head, {Classes} classes, {ImageSize}px"
        : $"{Backbone} + ml-decoder head (K {ResolvedGroups}, D {EmbedDim}, {Heads} heads, FFN {FeedForward}), {Classes} classes, {ImageSize}px";
}

/// <summary>A classifier's weights and architecture read from a file: a training checkpoint
/// (checkpoint.safetensors, last.safetensors: the model part and its "extra." metadata) or a plain
/// safetensors state dict, e.g. exported from PyTorch. Tensor names are brought to this engine's
/// names ("body.…", "head.…"): a "module." prefix (DataParallel) is dropped, the reference's
/// "head.decoder.X" (TResNet) and "fc.decoder.X" (torchvision ResNet, whose other tensors then get
/// "body.") become "head.X". Metadata that is missing is inferred from the tensors where it can be
/// (classes, K, D, FFN, the head); the backbone and image size come from the metadata or the
/// caller.</summary>
public sealed class MlDecoderCheckpoint : IDisposable
{
    private MlDecoderCheckpoint(string path, MlDecoderSpec spec, OrderedDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string>? classNames)
    {
        Path = path;
        Spec = spec;
        Tensors = tensors;
        Metadata = metadata;
        ClassNames = classNames;
    }

    public string Path { get; }
    public MlDecoderSpec Spec { get; }

    /// <summary>The model's tensors under this engine's state-dict names (owned by this object).</summary>
    public OrderedDictionary<string, Tensor> Tensors { get; }

    /// <summary>The checkpoint's metadata (a training checkpoint's "extra." section, else the file's).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Class names saved with the weights, when the training data had them.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>What the caller knows when the file does not say (a plain state dict): used only
    /// for keys the metadata lacks.</summary>
    public sealed record Defaults(string? Backbone = null, int? ImageSize = null, int Heads = 8);

    public static MlDecoderCheckpoint Load(string path, Device? device = null, Defaults? defaults = null)
    {
        defaults ??= new Defaults();
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        bool training = SafeTensors.ReadHeader(path).Metadata.ContainsKey("format");
        OrderedDictionary<string, Tensor> raw;
        IReadOnlyDictionary<string, string> meta;
        if (training)
        {
            var c = TrainingCheckpoint.Load(path, device);
            // Keep the model's tensors, drop the optimizer's and the EMA's.
            c.Optimizer?.DisposeTensors();
            c.Ema?.DisposeTensors();
            raw = new OrderedDictionary<string, Tensor>(c.Model.Tensors, StringComparer.Ordinal);
            meta = c.Extra;
        }
        else
        {
            var content = SafeTensors.Load(path, device);
            raw = content.Tensors;
            meta = content.Metadata;
        }
        try
        {
            var tensors = Normalize(raw, path);
            var spec = Describe(path, tensors, meta, defaults);
            IReadOnlyList<string>? names = null;
            if (meta.TryGetValue(MlDecoderSpec.ClassNamesKey, out var json))
            {
                try
                {
                    names = JsonSerializer.Deserialize<string[]>(json);
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"{path}: metadata '{MlDecoderSpec.ClassNamesKey}' is not a JSON array of strings ({e.Message})");
                }
                if (names is not null && names.Count != spec.Classes)
                    throw new InvalidDataException($"{path}: metadata '{MlDecoderSpec.ClassNamesKey}' has {names.Count} names for {spec.Classes} classes");
            }
            return new MlDecoderCheckpoint(path, spec, tensors, meta, names);
        }
        catch
        {
            foreach (var t in raw.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Builds the model the file describes on <paramref name="device"/> and loads the weights.</summary>
    public MultiLabelClassifier BuildModel(Device device)
    {
        var model = Spec.Build(device);
        try
        {
            LoadInto(model, Tensors, Path);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>This engine's name for a tensor of a PyTorch-side state dict (see the class summary).</summary>
    public static string NormalizeName(string name, bool torchvisionLayout)
    {
        while (name.StartsWith("module.", StringComparison.Ordinal)) name = name["module.".Length..];
        if (name.StartsWith("head.decoder.", StringComparison.Ordinal)) return "head." + name["head.decoder.".Length..];
        if (!torchvisionLayout) return name;
        if (name.StartsWith("fc.decoder.", StringComparison.Ordinal)) return "head." + name["fc.decoder.".Length..];
        if (name.StartsWith("fc.", StringComparison.Ordinal)) return "head." + name;
        return "body." + name;
    }

    private static OrderedDictionary<string, Tensor> Normalize(OrderedDictionary<string, Tensor> raw, string path)
    {
        // torchvision's ResNet has no "body."/"head." children: its layers sit at the top, the head is "fc".
        bool torchvision = !raw.Keys.Any(k => Strip(k).StartsWith("body.", StringComparison.Ordinal) || Strip(k).StartsWith("head.", StringComparison.Ordinal));
        var result = new OrderedDictionary<string, Tensor>(raw.Count, StringComparer.Ordinal);
        foreach (var (name, t) in raw)
        {
            var n = NormalizeName(name, torchvision);
            if (!result.TryAdd(n, t))
                throw new InvalidDataException($"{path}: tensors '{name}' and another both map to '{n}'");
        }
        return result;

        static string Strip(string k)
        {
            while (k.StartsWith("module.", StringComparison.Ordinal)) k = k["module.".Length..];
            return k;
        }
    }

    private static MlDecoderSpec Describe(string path, IReadOnlyDictionary<string, Tensor> t, IReadOnlyDictionary<string, string> meta, Defaults d)
    {
        int? Int(string key)
        {
            if (!meta.TryGetValue(key, out var v)) return null;
            return int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int x) && x > 0
                ? x
                : throw new InvalidDataException($"{path}: metadata '{key}' is '{v}', not a positive integer");
        }
        if (meta.TryGetValue(MlDecoderSpec.ZeroShotKey, out var zs))
            throw new InvalidDataException($"{path} is a zero-shot model ({zs}); eval and predict rebuild the fixed-query heads only " +
                                           "(its ZSL / GZSL figures are in zero-shot.json beside it)");
        Shape? ShapeOf(string name) => t.TryGetValue(name, out var x) ? x.Shape : (Shape?)null;

        var pooling = ShapeOf("head.duplicate_pooling");
        var fc = ShapeOf("head.fc.weight");
        string head = meta.TryGetValue(MlDecoderSpec.HeadKey, out var h) ? h
            : pooling is not null ? "ml-decoder"
            : fc is not null ? "gap"
            : throw new InvalidDataException($"{path}: neither metadata '{MlDecoderSpec.HeadKey}' nor a head tensor " +
                                             "('head.duplicate_pooling' or 'head.fc.weight') says which head this is");
        int? classes = Int(MlDecoderSpec.ClassesKey)
            ?? (head == "gap"
                ? fc is { Rank: 2 } f ? f[0] : null
                : ShapeOf("head.duplicate_pooling_bias") is { Rank: 1 } b ? b[0] : (int?)null);
        string backbone = meta.TryGetValue(MlDecoderSpec.BackboneKey, out var bb) ? bb
            : d.Backbone ?? throw new InvalidDataException($"{path}: metadata '{MlDecoderSpec.BackboneKey}' is missing; pass --backbone");
        int imageSize = Int(MlDecoderSpec.ImageSizeKey) ?? d.ImageSize
            ?? throw new InvalidDataException($"{path}: metadata '{MlDecoderSpec.ImageSizeKey}' is missing; pass --image-size");
        if (classes is null)
            throw new InvalidDataException($"{path}: metadata '{MlDecoderSpec.ClassesKey}' is missing and no head tensor gives the class count");
        int groups = Int(MlDecoderSpec.GroupsKey) ?? (pooling is { Rank: 3 } p ? p[0] : -1);
        int embed = Int(MlDecoderSpec.EmbedDimKey) ?? (pooling is { Rank: 3 } q ? q[1] : 768);
        int ffn = Int(MlDecoderSpec.FeedForwardKey) ?? (ShapeOf("head.layers.0.linear1.weight") is { Rank: 2 } l ? l[0] : 2048);
        int heads = Int(MlDecoderSpec.HeadsKey) ?? d.Heads;
        return new MlDecoderSpec(backbone, head, classes.Value, groups, embed, heads, ffn, imageSize);
    }

    /// <summary>Copies <paramref name="state"/> into <paramref name="model"/>, refusing a file that
    /// does not fit with a message that names the first tensor that differs (and both shapes).
    /// BatchNorm's num_batches_tracked counters may be absent (not every exporter writes them).</summary>
    public static void LoadInto(MultiLabelClassifier model, IReadOnlyDictionary<string, Tensor> state, string path)
    {
        var own = model.StateDict();
        static bool Optional(string name) => name.EndsWith(".num_batches_tracked", StringComparison.Ordinal);
        var missing = own.Keys.Where(k => !state.ContainsKey(k) && !Optional(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var mismatched = own.Where(kv => state.TryGetValue(kv.Key, out var s) && s.Shape != kv.Value.Shape).ToList();
        if (mismatched.Count > 0)
        {
            var (name, mine) = mismatched[0];
            throw new InvalidDataException($"{path} does not fit this model: tensor '{name}' has shape {state[name].Shape} in the file, " +
                                           $"the model expects {mine.Shape}" + More(mismatched.Count - 1, missing.Count + unexpected.Count) +
                                           " (another architecture or class count?)");
        }
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            string first = missing.Count > 0
                ? $"tensor '{missing[0]}' (shape {own[missing[0]].Shape}) is missing from the file"
                : $"the file has tensor '{unexpected[0]}' (shape {state[unexpected[0]].Shape}), which the model lacks";
            throw new InvalidDataException($"{path} does not fit this model: {first}" +
                                           More(0, missing.Count + unexpected.Count - 1) + " (another architecture?)");
        }
        model.LoadStateDict(state, strict: false);
    }

    private static string More(int shapes, int names) =>
        shapes + names == 0 ? "" : $"; {shapes + names} more tensor(s) differ";

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
        Tensors.Clear();
    }
}
