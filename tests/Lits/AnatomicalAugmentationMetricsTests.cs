using Kernels.Nets.Models.AnatomicalAugmentation;

namespace Kernels.Tests.Lits;

/// <summary>Success rate, pixel accuracy and Dice of the lesion classification on hand-made
/// slices whose scores are counted by hand.</summary>
public class AnatomicalAugmentationMetricsTests
{
    private const int I = PixelClass.Ignore, L = PixelClass.HealthyLiver, C = PixelClass.Cyst, M = PixelClass.Metastasis, He = PixelClass.Hemangioma;

    [Test]
    public void MajorityClassCountsOnlyTheLesionsPixelsAndBreaksTiesLow()
    {
        int[] lesions = [0, 1, 1, 1, 2, 2, 0];
        Assert.That(LesionMetrics.MajorityClass([M, C, M, M, He, L, M], lesions, 1), Is.EqualTo(M));
        Assert.That(LesionMetrics.MajorityClass([M, C, M, M, He, L, M], lesions, 2), Is.EqualTo(L), "a 1–1 tie goes to the lower class");
        Assert.That(LesionMetrics.MajorityClass([M, C, M, M, He, L, M], lesions, 3), Is.EqualTo(-1), "absent lesion");
        Assert.That(LesionMetrics.MajorityClass([C, L, L, C, C, C, C], lesions, 1), Is.EqualTo(L), "healthy liver can win: the lesion is missed");
        Assert.Throws<ArgumentException>(() => LesionMetrics.MajorityClass([C, 7, C, C, C, C, C], lesions, 1));
    }

    [Test]
    public void DiceIsNaNOnlyWhenTheClassIsAbsentFromBoth()
    {
        Assert.That(LesionMetrics.Dice(3, 4, 5), Is.EqualTo(6.0 / 9));
        Assert.That(LesionMetrics.Dice(0, 0, 5), Is.Zero);
        Assert.That(LesionMetrics.Dice(0, 2, 0), Is.Zero);
        Assert.That(LesionMetrics.Dice(0, 0, 0), Is.NaN);
    }

    [Test]
    public void TwoSlicesScoreAsCountedByHand()
    {
        var m = new LesionMetrics();
        // Slice A: 8 pixels, 2 outside the liver; a cyst (lesion 1, 3 px) and a metastasis (lesion 2, 1 px).
        int[] maskA = [I, L, L, C, C, C, M, I];
        int[] lesA = [0, 0, 0, 1, 1, 1, 2, 0];
        int[] predA = [He, L, C, C, C, M, M, He]; // outside-liver predictions are ignored
        m.Add(predA, maskA, lesA, [(1, C), (2, M)]);
        // Slice B: a hemangioma (lesion 5, 2 px) classified as metastasis; lesion 6 is on the
        // slice but not scored here (its labelled slice is elsewhere).
        int[] maskB = [L, L, He, He, C, L];
        int[] lesB = [0, 0, 5, 5, 6, 0];
        int[] predB = [L, M, M, M, C, L];
        m.Add(predB, maskB, lesB, [(5, He)]);
        var r = m.Result();

        Assert.That(r.Lesions, Is.EqualTo(3));
        Assert.That(r.CorrectLesions, Is.EqualTo(2), "cyst (2 of 3 px) and metastasis right, hemangioma wrong");
        Assert.That(r.SuccessRate, Is.EqualTo(2.0 / 3));
        Assert.That(r.LesionsPerKind, Is.EqualTo(new[] { 0, 1, 1, 1 }));
        Assert.That(r.CorrectPerKind, Is.EqualTo(new[] { 0, 1, 1, 0 }));
        Assert.That(r.LiverPixels, Is.EqualTo(6 + 6));
        // Right: A L,C,C,M (4 of 6: the C→C at 2 is wrong, the C→M at 5 wrong); B L,C,L (3 of 6).
        Assert.That(r.CorrectPixels, Is.EqualTo(7));
        Assert.That(r.PixelAccuracy, Is.EqualTo(7.0 / 12));
        // Healthy: ref A 2 + B 3 = 5, pred A 1 + B 2 = 3, both A 1 + B 2 = 3.
        Assert.That(r.Dice[L], Is.EqualTo(2.0 * 3 / (3 + 5)));
        // Cyst: ref 3 + 1 = 4, pred 3 (A: pixels 2,3,4) + 1 = 4, both 2 + 1 = 3.
        Assert.That(r.Dice[C], Is.EqualTo(2.0 * 3 / 8));
        // Metastasis: ref 1, pred A 2 + B 3 = 5, both 1.
        Assert.That(r.Dice[M], Is.EqualTo(2.0 * 1 / 6));
        // Hemangioma: ref 2, pred 0 (the A predictions are outside the liver).
        Assert.That(r.Dice[He], Is.Zero);
        Assert.That(r.MeanLesionDice, Is.EqualTo((0.75 + 1.0 / 3 + 0) / 3).Within(1e-12));
    }

    [Test]
    public void AbsentClassesDoNotEnterTheMeanDiceAndAnEmptySetIsNaN()
    {
        var m = new LesionMetrics();
        m.Add([L, C, C], [L, C, C], [0, 1, 1], [(1, C)]);
        var r = m.Result();
        Assert.That(r.Dice[M], Is.NaN);
        Assert.That(r.Dice[He], Is.NaN);
        Assert.That(r.MeanLesionDice, Is.EqualTo(1));
        Assert.That(r.SuccessRate, Is.EqualTo(1));
        var empty = new LesionMetrics().Result();
        Assert.That(empty.SuccessRate, Is.NaN);
        Assert.That(empty.PixelAccuracy, Is.NaN);
        Assert.That(empty.MeanLesionDice, Is.NaN);
    }

    [Test]
    public void ALesionCutOffByTheWindowIsNotScoredAndBadInputIsRefused()
    {
        var m = new LesionMetrics();
        m.Add([L, L], [L, L], [0, 0], [(4, M)]);
        Assert.That(m.Result().Lesions, Is.Zero);
        Assert.Throws<ArgumentException>(() => m.Add([L], [L, L], [0, 0], []));
        Assert.Throws<ArgumentException>(() => m.Add([L, -1], [L, L], [0, 0], []));
    }
}
