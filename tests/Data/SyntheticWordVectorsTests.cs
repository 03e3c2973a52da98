using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class SyntheticWordVectorsTests
{
    private static double Cos(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return d / Math.Sqrt(na * nb);
    }

    [Test]
    public void VectorsAreSeededUnitNormAndNamedAfterTheClasses()
    {
        var a = SyntheticWordVectors.Create(20);
        var b = SyntheticWordVectors.Create(20);
        var c = SyntheticWordVectors.Create(20, seed: 5);
        var names = new SyntheticMultiLabel(20).ClassNames;
        Assert.That(a.Dimension, Is.EqualTo(300));
        Assert.That(a.Matrix(names), Is.EqualTo(b.Matrix(names)));
        Assert.That(c.Matrix(names), Is.Not.EqualTo(a.Matrix(names)));
        foreach (var n in names)
        {
            var v = a.Vector(n.Replace(' ', '_'));
            double norm = 0;
            foreach (float x in v) norm += x * x;
            Assert.That(Math.Sqrt(norm), Is.EqualTo(1).Within(1e-5), n);
        }
    }

    [Test]
    public void SharedAttributesMeanCloserVectors()
    {
        // 64 classes: all shape × colour pairs, all solid. Sharing the texture only gives a cosine
        // of about 1/3; sharing a shape or a colour too, about 2/3.
        var wv = SyntheticWordVectors.Create(64);
        var names = new SyntheticMultiLabel(64).ClassNames;
        double shared = 0, none = 0;
        int ns = 0, nn = 0;
        for (int i = 0; i < 64; i++)
            for (int j = i + 1; j < 64; j++)
            {
                var (si, ci, _) = SyntheticMultiLabel.Describe(i);
                var (sj, cj, _) = SyntheticMultiLabel.Describe(j);
                double cos = Cos(wv.Vector(names[i].Replace(' ', '_')), wv.Vector(names[j].Replace(' ', '_')));
                if (si == sj || ci == cj) { shared += cos; ns++; }
                else { none += cos; nn++; }
            }
        Assert.That(shared / ns, Is.GreaterThan(none / nn + 0.2), $"shared {shared / ns:0.000}, none {none / nn:0.000}");
    }

    [Test]
    public void DefaultUnseenClassesHaveSeenAttributes()
    {
        var unseen = SyntheticWordVectors.DefaultUnseen(20);
        var names = new SyntheticMultiLabel(20).ClassNames;
        Assert.That(unseen, Is.EqualTo(new[] { names[4], names[9], names[14], names[19] }));
        var split = ZeroShotSplit.Parse(new StringReader(string.Join("\n", unseen)), "default", names);
        Assert.That(split.Unseen, Is.EqualTo(new[] { 4, 9, 14, 19 }));
        Assert.That(split.Seen, Has.Length.EqualTo(16));
    }

    [Test]
    public void SaveWritesWhatLoadReads()
    {
        var wv = SyntheticWordVectors.Create(6, dim: 7);
        var path = Path.GetTempFileName();
        try
        {
            wv.Save(path);
            var back = WordVectors.Load(path);
            Assert.That(back.Words, Is.EqualTo(wv.Words));
            Assert.That(back.Matrix(back.Words), Is.EqualTo(wv.Matrix(wv.Words)));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<ArgumentException>(() => WordVectors.Create("x", ["a b"], [1f]));
        Assert.Throws<ArgumentException>(() => WordVectors.Create("x", ["a", "a"], [1f, 2f]));
    }
}
