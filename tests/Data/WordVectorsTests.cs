using Kernels.Nets;
using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class WordVectorsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "wordvectors-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public void ReadsVectorsOfAnyDimension()
    {
        var path = Write("v.txt", "cat 0.5 -1 2e-1\n\n dog\t1 2 3 \ntraffic_light -0.25 0 1.5E+1\n");
        var wv = WordVectors.Load(path);
        Assert.That(wv.Dimension, Is.EqualTo(3));
        Assert.That(wv.Words, Is.EqualTo(new[] { "cat", "dog", "traffic_light" }));
        Assert.That(wv.Vector("cat").ToArray(), Is.EqualTo(new[] { 0.5f, -1f, 0.2f }));
        Assert.That(wv.Source, Is.EqualTo(path));
        var m = wv.Matrix(["dog", "traffic light", "cat"]);
        Assert.That(m, Is.EqualTo(new[] { 1f, 2f, 3f, -0.25f, 0f, 15f, 0.5f, -1f, 0.2f }));
        Assert.That(wv.Contains("Cat"), Is.False, "words are case-sensitive");
    }

    [Test]
    public void ReadsAHeaderAndThreeHundredDimensions()
    {
        var rng = new Rng(4);
        var lines = new List<string> { "2 300" };
        var expected = new float[600];
        for (int w = 0; w < 2; w++)
        {
            var vals = new string[300];
            for (int d = 0; d < 300; d++)
            {
                expected[w * 300 + d] = (float)rng.NextNormal();
                vals[d] = expected[w * 300 + d].ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            }
            lines.Add((w == 0 ? "person " : "bicycle ") + string.Join(' ', vals));
        }
        var wv = WordVectors.Load(Write("h.vec", string.Join('\n', lines)));
        Assert.That(wv.Dimension, Is.EqualTo(300));
        Assert.That(wv.Matrix(["person", "bicycle"]), Is.EqualTo(expected));
    }

    [Test]
    public void KeepsOnlyRequestedWordsButChecksEveryLine()
    {
        var path = Write("k.txt", "a 1 2\nb 3 4\nc 5 6\n");
        var wv = WordVectors.Load(path, ["c", "a"]);
        Assert.That(wv.Words, Is.EqualTo(new[] { "a", "c" }));
        var bad = Write("k2.txt", "a 1 2\nb 3\n");
        var ex = Assert.Throws<InvalidDataException>(() => WordVectors.Load(bad, ["a"]))!;
        Assert.That(ex.Message, Does.Contain("k2.txt:2"));
    }

    [Test]
    public void BadFilesAreNamedWithTheirLine()
    {
        void Fails(string text, params string[] parts)
        {
            var path = Write("bad.txt", text);
            var ex = Assert.Throws<InvalidDataException>(() => WordVectors.Load(path), text)!;
            foreach (var p in parts) Assert.That(ex.Message, Does.Contain(p), text);
        }
        Fails("a 1 2 3\nb 1 2\n", "bad.txt:2", "'b' has 2 values, expected 3", "line 1");
        Fails("a 1 2\nb 3 4\na 5 6\n", "bad.txt:3", "duplicate word 'a'", "first on line 1");
        Fails("a 1 x\n", "bad.txt:1", "value 2 of 'a' is 'x'");
        Fails("a 1 NaN\n", "bad.txt:1", "'NaN'");
        Fails("a 1 1e60\n", "bad.txt:1", "not a finite number");
        Fails("a 1 2\nlonely\n", "bad.txt:2", "'lonely' has no values");
        Fails("\n  \n", "no word vectors");
        Fails("3 2\na 1 2\nb 3 4\n", "header says 3 vectors, the file has 2");
        Fails("2 3\na 1 2\nb 3 4\n", "bad.txt:2", "expected 3 (as on line 1)");
        Assert.Throws<FileNotFoundException>(() => WordVectors.Load(Path.Combine(_dir, "none.txt")));
    }

    [Test]
    public void MissingClassesAreListed()
    {
        var wv = WordVectors.Load(Write("m.txt", "a 1\nb 2\n"));
        var ex = Assert.Throws<InvalidDataException>(() => wv.Matrix(["a", "zebra", "b", "kite"]))!;
        Assert.That(ex.Message, Does.Contain("m.txt").And.Contain("2 of 4 classes").And.Contain("'zebra', 'kite'"));
        Assert.Throws<KeyNotFoundException>(() => wv.Vector("zebra"));
    }

    [Test]
    public void SplitFileGivesSeenAndUnseen()
    {
        string[] classes = ["person", "bicycle", "traffic light", "dog", "cat"];
        var path = Write("unseen.txt", "# unseen classes\ncat\n\n  traffic light  \n");
        var split = ZeroShotSplit.FromUnseenFile(path, classes);
        Assert.That(split.Unseen, Is.EqualTo(new[] { 4, 2 }));
        Assert.That(split.Seen, Is.EqualTo(new[] { 0, 1, 3 }));
    }

    [Test]
    public void BadSplitFilesAreNamedWithTheirLine()
    {
        string[] classes = ["a", "b", "c"];
        void Fails(string text, params string[] parts)
        {
            var path = Write("split.txt", text);
            var ex = Assert.Throws<InvalidDataException>(() => ZeroShotSplit.FromUnseenFile(path, classes), text)!;
            foreach (var p in parts) Assert.That(ex.Message, Does.Contain(p), text);
        }
        Fails("a\nzebra\n", "split.txt:2", "'zebra' is not one of the 3 classes");
        Fails("b\n\nb\n", "split.txt:3", "'b' listed twice", "first on line 1");
        Fails("# nothing\n", "no unseen classes");
        Fails("a\nb\nc\n", "every class is listed as unseen");
        Assert.Throws<FileNotFoundException>(() => ZeroShotSplit.FromUnseenFile(Path.Combine(_dir, "none.txt"), classes));
        Assert.Throws<ArgumentException>(() => ZeroShotSplit.Parse(new StringReader("a"), "x", ["a", "a", "b"]));
    }
}
