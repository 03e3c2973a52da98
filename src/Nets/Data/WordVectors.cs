using System.Globalization;

namespace Kernels.Nets.Data;

/// <summary>Word vectors from a text file, for zero-shot queries (issue 4, Data (c)).
///
/// Format: one vector per line, `word v1 v2 … vD`, fields separated by spaces or tabs, numbers in
/// invariant culture ("0.25", "-1e-3"); every line has the same D (300 for the usual files, any D
/// works). Blank lines are skipped. A first line of exactly two non-negative integers is the
/// word2vec / fastText header `count dim` and is checked against the body. Words are matched
/// exactly (case-sensitive) and cannot contain spaces; <see cref="Matrix"/> looks a class name
/// with spaces up as written, then with '_' for each space ("traffic light" → "traffic_light").
/// Errors (<see cref="InvalidDataException"/>) name the file and line.</summary>
public sealed class WordVectors
{
    private readonly Dictionary<string, int> _index;
    private readonly float[] _values;

    private WordVectors(string source, int dimension, List<string> words, float[] values)
    {
        Source = source;
        Dimension = dimension;
        Words = words;
        _values = values;
        _index = new Dictionary<string, int>(words.Count, StringComparer.Ordinal);
        for (int i = 0; i < words.Count; i++) _index[words[i]] = i;
    }

    /// <summary>The file (or name) the vectors came from, for messages.</summary>
    public string Source { get; }

    public int Dimension { get; }

    /// <summary>The words kept, in file order.</summary>
    public IReadOnlyList<string> Words { get; }

    public int Count => Words.Count;

    public bool Contains(string word) => _index.ContainsKey(word);

    /// <summary>The vector of <paramref name="word"/>; throws naming the file when absent.</summary>
    public ReadOnlySpan<float> Vector(string word) =>
        _index.TryGetValue(word, out int i)
            ? _values.AsSpan(i * Dimension, Dimension)
            : throw new KeyNotFoundException($"{Source}: no vector for '{word}'");

    /// <summary>The vectors of <paramref name="names"/> as a row-major [names, D] array. Every
    /// missing name is listed in one error.</summary>
    public float[] Matrix(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var m = new float[(long)names.Count * Dimension];
        var missing = new List<string>();
        for (int r = 0; r < names.Count; r++)
        {
            if (!TryFind(names[r], out int i))
            {
                missing.Add(names[r]);
                continue;
            }
            _values.AsSpan(i * Dimension, Dimension).CopyTo(m.AsSpan(r * Dimension, Dimension));
        }
        if (missing.Count > 0)
            throw new InvalidDataException(
                $"{Source}: no vector for {missing.Count} of {names.Count} classes: {string.Join(", ", missing.Take(20).Select(n => $"'{n}'"))}{(missing.Count > 20 ? ", …" : "")}");
        return m;
    }

    /// <summary>Vectors built in memory: <paramref name="values"/> is [words, D] row-major.</summary>
    public static WordVectors Create(string source, IReadOnlyList<string> words, float[] values)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(values);
        if (words.Count == 0 || values.Length == 0 || values.Length % words.Count != 0)
            throw new ArgumentException($"WordVectors.Create: {values.Length} values do not split into {words.Count} vectors");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in words)
            if (string.IsNullOrEmpty(w) || w.Any(char.IsWhiteSpace) || !seen.Add(w))
                throw new ArgumentException($"WordVectors.Create: word '{w}' is empty, has white space or is repeated");
        if (values.Any(v => !float.IsFinite(v))) throw new ArgumentException("WordVectors.Create: a value is not finite");
        return new WordVectors(source, values.Length / words.Count, words.ToList(), (float[])values.Clone());
    }

    /// <summary>Writes the vectors in the text format <see cref="Load"/> reads (no header line).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < Count; i++)
        {
            sb.Append(Words[i]);
            foreach (float v in _values.AsSpan(i * Dimension, Dimension)) sb.Append(' ').Append(v.ToString("R", CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>Reads a word-vector file. With <paramref name="only"/>, keeps just those words
    /// (every line is still checked), which saves memory on large files.</summary>
    public static WordVectors Load(string path, IEnumerable<string>? only = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"word-vector file {path} does not exist", path);
        using var reader = new StreamReader(path);
        return Parse(reader, path, only);
    }

    /// <summary>Reads word vectors from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    public static WordVectors Parse(TextReader reader, string source, IEnumerable<string>? only = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        HashSet<string>? keep = only is null ? null : new HashSet<string>(only.SelectMany(n => new[] { n, n.Replace(' ', '_') }), StringComparer.Ordinal);
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        var words = new List<string>();
        var values = new List<float>();
        int dim = -1, dimLine = 0, lineNo = 0, vectorLines = 0;
        long headerCount = -1;
        var fields = new List<Range>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            var span = line.AsSpan();
            Tokenise(span, fields);
            if (fields.Count == 0) continue;
            if (vectorLines == 0 && headerCount < 0 && fields.Count == 2 && IsHeader(span, fields, out long count, out int hdim))
            {
                headerCount = count;
                dim = hdim;
                dimLine = lineNo;
                continue;
            }
            string word = span[fields[0]].ToString();
            int n = fields.Count - 1;
            if (n == 0) throw new InvalidDataException($"{source}:{lineNo}: '{word}' has no values");
            if (dim < 0)
            {
                dim = n;
                dimLine = lineNo;
            }
            else if (n != dim)
                throw new InvalidDataException($"{source}:{lineNo}: '{word}' has {n} values, expected {dim} (as on line {dimLine})");
            if (!firstLine.TryAdd(word, lineNo))
                throw new InvalidDataException($"{source}:{lineNo}: duplicate word '{word}' (first on line {firstLine[word]})");
            vectorLines++;
            bool kept = keep is null || keep.Contains(word);
            for (int f = 1; f <= n; f++)
            {
                var text = span[fields[f]];
                if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                    throw new InvalidDataException($"{source}:{lineNo}: value {f} of '{word}' is '{text}', not a finite number");
                if (kept) values.Add(v);
            }
            if (kept) words.Add(word);
        }
        if (vectorLines == 0) throw new InvalidDataException($"{source}: no word vectors in the file");
        if (headerCount >= 0 && headerCount != vectorLines)
            throw new InvalidDataException($"{source}:1: header says {headerCount} vectors, the file has {vectorLines}");
        return new WordVectors(source, dim, words, values.ToArray());
    }

    private bool TryFind(string name, out int index) =>
        _index.TryGetValue(name, out index) || (name.Contains(' ') && _index.TryGetValue(name.Replace(' ', '_'), out index));

    private static bool IsHeader(ReadOnlySpan<char> line, List<Range> fields, out long count, out int dim)
    {
        dim = 0;
        return long.TryParse(line[fields[0]], NumberStyles.None, CultureInfo.InvariantCulture, out count)
            && int.TryParse(line[fields[1]], NumberStyles.None, CultureInfo.InvariantCulture, out dim) && dim > 0;
    }

    private static void Tokenise(ReadOnlySpan<char> line, List<Range> fields)
    {
        fields.Clear();
        int i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i])) i++;
            int start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i])) i++;
            if (i > start) fields.Add(start..i);
        }
    }
}

/// <summary>Which classes are seen (trained on) and unseen (zero-shot evaluation), as indices into
/// the class list.
///
/// Split file format: the UNSEEN class names, one per line (the whole trimmed line is the name, so
/// names may contain spaces); blank lines and lines starting with '#' are skipped. Every other
/// class is seen. Errors (<see cref="InvalidDataException"/>) name the file and line: a name that is
/// not a class, a name listed twice, an empty list, or a list that leaves no seen class.</summary>
public sealed record ZeroShotSplit(int[] Seen, int[] Unseen)
{
    public static ZeroShotSplit FromUnseenFile(string path, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"split file {path} does not exist", path);
        using var reader = new StreamReader(path);
        return Parse(reader, path, classes);
    }

    public static ZeroShotSplit Parse(TextReader reader, string source, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(classes);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < classes.Count; c++)
            if (!index.TryAdd(classes[c], c)) throw new ArgumentException($"ZeroShotSplit: class '{classes[c]}' appears twice in the class list", nameof(classes));
        var unseenLine = new Dictionary<int, int>();
        var unseen = new List<int>();
        int lineNo = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            var name = line.Trim();
            if (name.Length == 0 || name[0] == '#') continue;
            if (!index.TryGetValue(name, out int c))
                throw new InvalidDataException($"{source}:{lineNo}: '{name}' is not one of the {classes.Count} classes");
            if (!unseenLine.TryAdd(c, lineNo))
                throw new InvalidDataException($"{source}:{lineNo}: '{name}' listed twice (first on line {unseenLine[c]})");
            unseen.Add(c);
        }
        if (unseen.Count == 0) throw new InvalidDataException($"{source}: no unseen classes listed");
        if (unseen.Count == classes.Count) throw new InvalidDataException($"{source}: every class is listed as unseen; none is left to train on");
        var seen = Enumerable.Range(0, classes.Count).Where(c => !unseenLine.ContainsKey(c)).ToArray();
        return new ZeroShotSplit(seen, unseen.ToArray());
    }
}
