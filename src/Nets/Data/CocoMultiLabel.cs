using System.Text.Json;
using System.Text.Json.Serialization;
using Kernels.Nets.Imaging;

namespace Kernels.Nets.Data;

/// <summary>One split of a COCO-style instances file: image paths and multi-hot targets.</summary>
public sealed record CocoSplit(string AnnotationFile, string ImageFolder, string[] Files, long[] ImageIds, float[] Targets, int Classes)
{
    public int Count => Files.Length;
}

/// <summary>COCO-style multi-label data (issue 4, Data (b)): `--data coco:&lt;dir&gt;`.
///
/// Layout (the usual COCO one): &lt;dir&gt;/annotations/instances_train*.json and
/// &lt;dir&gt;/annotations/instances_val*.json, exactly one of each; the images of
/// instances_&lt;name&gt;.json are in &lt;dir&gt;/&lt;name&gt;/ (instances_train2017.json →
/// &lt;dir&gt;/train2017/), each at its file_name. Only "categories" (id, name), "images"
/// (id, file_name) and "annotations" (image_id, category_id) are read; other fields are skipped.
///
/// Classes are the categories sorted by id, renumbered 0 … N−1 (COCO's ids 1 … 90 with gaps
/// become 0 … 79), names kept; train and val must list the same categories. An image's target is
/// 1 for every category annotated on it (crowd annotations included, as the reference loader),
/// and an image without annotations is kept as all-negative. Errors name the file: malformed
/// JSON (with line and position), a missing field, duplicate category or image ids, an annotation
/// whose category_id or image_id is unknown, and image files that do not exist (checked when
/// loading, the first few listed).
///
/// Images are decoded lazily per batch (<see cref="ImageFile.LoadSquished"/>, in parallel), with
/// an LRU cache of squished images (<see cref="CacheImages"/>, bounded in memory). Training
/// batches draw images uniformly with replacement from the caller's generator (stateless, so a
/// resumed run continues exactly) and apply <see cref="Augmentation"/>; the validation set is the
/// val split in file order, optionally only its first <c>validationLimit</c> images.</summary>
public sealed class CocoMultiLabel : IMultiLabelData
{
    private readonly ImageAugmenter? _augmenter;
    private readonly ImageCache _cache;

    private CocoMultiLabel(string root, int imageSize, string[] classNames, long[] categoryIds, CocoSplit train, CocoSplit val,
        AugmentationOptions augmentation, int validationLimit, long cacheBytes)
    {
        Root = root;
        ImageSize = imageSize;
        ClassNames = classNames;
        CategoryIds = categoryIds;
        Train = train;
        Validation = val;
        _augmenter = augmentation.Any ? new ImageAugmenter(augmentation) : null;
        ValidationCount = validationLimit > 0 ? Math.Min(validationLimit, val.Count) : val.Count;
        long perImage = 12L * imageSize * imageSize;
        CacheImages = (int)Math.Clamp(cacheBytes / perImage, 0, train.Count + ValidationCount);
        _cache = new ImageCache(CacheImages);
    }

    public string Root { get; }
    public string Description => $"coco:{Root} ({Train.Count} train / {ValidationCount} val images, {Classes} classes, {ImageSize}px)";
    public int Classes => ClassNames.Count;
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The original category id of each class.</summary>
    public IReadOnlyList<long> CategoryIds { get; }

    public int ImageSize { get; }
    public CocoSplit Train { get; }
    public CocoSplit Validation { get; }
    public int ValidationCount { get; }
    public AugmentationOptions Augmentation => _augmenter?.Options ?? AugmentationOptions.None;

    /// <summary>How many squished images the LRU cache keeps.</summary>
    public int CacheImages { get; }

    /// <summary>Loads &lt;dir&gt; (layout in the class summary).</summary>
    /// <param name="validationLimit">Use only the first this many val images (0: all).</param>
    /// <param name="cacheBytes">Memory for the decoded-image cache (0: no cache).</param>
    public static CocoMultiLabel Load(string dir, int imageSize, AugmentationOptions? augmentation = null, int validationLimit = 0,
        long cacheBytes = 256L << 20)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "CocoMultiLabel: image size must be positive");
        if (validationLimit < 0) throw new ArgumentOutOfRangeException(nameof(validationLimit), validationLimit, "CocoMultiLabel: validation limit must be ≥ 0");
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"coco:{dir}: the directory does not exist");
        var annotations = Path.Combine(dir, "annotations");
        if (!Directory.Exists(annotations))
            throw new DirectoryNotFoundException($"coco:{dir}: no annotations/ folder (expected annotations/instances_train*.json and instances_val*.json)");
        var trainJson = FindOne(annotations, "train");
        var valJson = FindOne(annotations, "val");
        var train = ReadFile(trainJson);
        var val = ReadFile(valJson);
        var (ids, names) = Categories(train, trainJson);
        var (valIds, valNames) = Categories(val, valJson);
        if (!ids.SequenceEqual(valIds) || !names.SequenceEqual(valNames))
            throw new InvalidDataException($"{valJson}: its categories differ from those of {trainJson} (both splits must list the same ids and names)");
        var trainSplit = Split(train, trainJson, dir, ids);
        var valSplit = Split(val, valJson, dir, ids);
        return new CocoMultiLabel(Path.GetFullPath(dir), imageSize, names, ids, trainSplit, valSplit,
            augmentation ?? AugmentationOptions.None, validationLimit, cacheBytes);
    }

    public MultiLabelBatch TrainBatch(int n, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentNullException.ThrowIfNull(rng);
        var pick = new int[n];
        for (int i = 0; i < n; i++) pick[i] = rng.NextInt(Train.Count);
        var b = Read(Train, pick, 0);
        _augmenter?.ApplyBatch(b.Images, n, ImageSize, rng);
        return b;
    }

    public MultiLabelBatch ValidationBatch(int start, int count)
    {
        MultiLabelDataExtensions.CheckSlice("CocoMultiLabel", start, count, ValidationCount);
        var pick = Enumerable.Range(start, count).ToArray();
        return Read(Validation, pick, 1L << 40);
    }

    /// <summary>Squished images of <paramref name="split"/> at <paramref name="pick"/>, decoded in parallel.</summary>
    private MultiLabelBatch Read(CocoSplit split, int[] pick, long cacheKeyBase)
    {
        int s = ImageSize, plane = 3 * s * s, n = pick.Length, classes = Classes;
        var images = new float[(long)n * plane];
        var targets = new float[(long)n * classes];
        for (int i = 0; i < n; i++) split.Targets.AsSpan(pick[i] * classes, classes).CopyTo(targets.AsSpan(i * classes, classes));
        Parallel.For(0, n, i =>
        {
            long key = cacheKeyBase + pick[i];
            var dst = images.AsSpan(i * plane, plane);
            if (_cache.TryGet(key, dst)) return;
            var path = Path.Combine(split.ImageFolder, split.Files[pick[i]]);
            ImageFile.LoadSquished(path, s, dst);
            _cache.Add(key, dst);
        });
        return new MultiLabelBatch(images, targets, n, s, classes);
    }

    private static string FindOne(string annotations, string split)
    {
        var found = Directory.GetFiles(annotations, $"instances_{split}*.json").Order(StringComparer.Ordinal).ToArray();
        return found.Length switch
        {
            1 => found[0],
            0 => throw new FileNotFoundException($"{annotations}: no instances_{split}*.json"),
            _ => throw new InvalidDataException($"{annotations}: several instances_{split}*.json ({string.Join(", ", found.Select(Path.GetFileName))}); keep one"),
        };
    }

    private static readonly JsonSerializerOptions s_json = new() { AllowTrailingCommas = false, ReadCommentHandling = JsonCommentHandling.Disallow };

    private static InstancesFile ReadFile(string path)
    {
        try
        {
            // Streaming deserialisation: only the fields below are kept; segmentation, bbox etc. are skipped.
            using var stream = File.OpenRead(path);
            var f = JsonSerializer.Deserialize<InstancesFile>(stream, s_json)
                ?? throw new InvalidDataException($"{path}: the file holds JSON null, expected an object");
            // JSON null in a list or a name passes the deserialiser; refuse it here.
            if (f.Categories is null || f.Categories.Any(c => c is null || c.Name is null))
                throw new InvalidDataException($"{path}: \"categories\" is null or holds an entry without a name");
            if (f.Images is null || f.Images.Any(i => i is null)) throw new InvalidDataException($"{path}: \"images\" is null or holds null");
            f.Annotations ??= [];
            if (f.Annotations.Any(a => a is null)) throw new InvalidDataException($"{path}: \"annotations\" holds null");
            return f;
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw new InvalidDataException($"{path}: malformed COCO instances JSON{where}: {e.Message}", e);
        }
    }

    private static (long[] Ids, string[] Names) Categories(InstancesFile f, string path)
    {
        if (f.Categories.Count == 0) throw new InvalidDataException($"{path}: \"categories\" is empty");
        var sorted = f.Categories.OrderBy(c => c.Id).ToArray();
        for (int i = 1; i < sorted.Length; i++)
            if (sorted[i].Id == sorted[i - 1].Id)
                throw new InvalidDataException($"{path}: category id {sorted[i].Id} appears twice ('{sorted[i - 1].Name}', '{sorted[i].Name}')");
        return (sorted.Select(c => c.Id).ToArray(), sorted.Select(c => c.Name).ToArray());
    }

    private static CocoSplit Split(InstancesFile f, string path, string root, long[] categoryIds)
    {
        var name = Path.GetFileNameWithoutExtension(path)["instances_".Length..];
        var folder = Path.Combine(root, name);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{path}: its image folder {folder} does not exist");
        var classOf = new Dictionary<long, int>();
        for (int c = 0; c < categoryIds.Length; c++) classOf[categoryIds[c]] = c;
        var imageIndex = new Dictionary<long, int>(f.Images.Count);
        var files = new string[f.Images.Count];
        var ids = new long[f.Images.Count];
        var missing = new List<string>();
        for (int i = 0; i < f.Images.Count; i++)
        {
            var im = f.Images[i];
            if (!imageIndex.TryAdd(im.Id, i)) throw new InvalidDataException($"{path}: image id {im.Id} appears twice");
            if (string.IsNullOrWhiteSpace(im.FileName)) throw new InvalidDataException($"{path}: image {im.Id} has an empty file_name");
            files[i] = im.FileName;
            ids[i] = im.Id;
            if (!File.Exists(Path.Combine(folder, im.FileName))) missing.Add(im.FileName);
        }
        if (missing.Count > 0)
            throw new FileNotFoundException(
                $"{path}: {missing.Count} of {files.Length} images are missing from {folder}: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        int n = categoryIds.Length;
        var targets = new float[(long)files.Length * n];
        for (int a = 0; a < f.Annotations.Count; a++)
        {
            var ann = f.Annotations[a];
            if (!imageIndex.TryGetValue(ann.ImageId, out int i))
                throw new InvalidDataException($"{path}: annotation {a} (id {ann.Id}) refers to image_id {ann.ImageId}, which is not in \"images\"");
            if (!classOf.TryGetValue(ann.CategoryId, out int c))
                throw new InvalidDataException($"{path}: annotation {a} (id {ann.Id}) has category_id {ann.CategoryId}, which is not in \"categories\"");
            targets[(long)i * n + c] = 1;
        }
        return new CocoSplit(path, folder, files, ids, targets, n);
    }

    private sealed class InstancesFile
    {
        [JsonPropertyName("categories"), JsonRequired] public List<Category> Categories { get; set; } = [];
        [JsonPropertyName("images"), JsonRequired] public List<Image> Images { get; set; } = [];
        [JsonPropertyName("annotations")] public List<Annotation> Annotations { get; set; } = [];
    }

    private sealed class Category
    {
        [JsonPropertyName("id"), JsonRequired] public long Id { get; set; }
        [JsonPropertyName("name"), JsonRequired] public string Name { get; set; } = "";
    }

    private sealed class Image
    {
        [JsonPropertyName("id"), JsonRequired] public long Id { get; set; }
        [JsonPropertyName("file_name"), JsonRequired] public string FileName { get; set; } = "";
    }

    private sealed class Annotation
    {
        [JsonPropertyName("id")] public long Id { get; set; }
        [JsonPropertyName("image_id"), JsonRequired] public long ImageId { get; set; }
        [JsonPropertyName("category_id"), JsonRequired] public long CategoryId { get; set; }
    }

    /// <summary>A small thread-safe LRU of squished images keyed by split and index.</summary>
    private sealed class ImageCache(int capacity)
    {
        private readonly Dictionary<long, LinkedListNode<(long Key, float[] Pixels)>> _map = [];
        private readonly LinkedList<(long Key, float[] Pixels)> _order = new();
        private readonly Lock _lock = new();

        public bool TryGet(long key, Span<float> dst)
        {
            if (capacity == 0) return false;
            lock (_lock)
            {
                if (!_map.TryGetValue(key, out var node)) return false;
                _order.Remove(node);
                _order.AddFirst(node);
                node.Value.Pixels.CopyTo(dst);
                return true;
            }
        }

        public void Add(long key, ReadOnlySpan<float> pixels)
        {
            if (capacity == 0) return;
            var copy = pixels.ToArray();
            lock (_lock)
            {
                if (_map.ContainsKey(key)) return;
                if (_map.Count >= capacity)
                {
                    var last = _order.Last!;
                    _order.RemoveLast();
                    _map.Remove(last.Value.Key);
                }
                _map[key] = _order.AddFirst((key, copy));
            }
        }
    }
}
