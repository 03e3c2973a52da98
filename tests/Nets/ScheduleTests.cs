using Kernels.Nets;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Tests.Support;

namespace Kernels.Tests.Networks;

public class ScheduleTests
{
    private static (double[] Lr, double[] Momentum) Run(Optimizer opt, Func<Optimizer, LrSchedule> make, int steps)
    {
        var sched = make(opt);
        var lr = new List<double>();
        var mom = new List<double>();
        for (int s = 0; s <= steps; s++)
        {
            lr.Add(opt.Groups[0].Lr);
            mom.Add(opt.UsesBetas ? opt.Groups[0].Beta1 : opt.Groups[0].Momentum);
            Assert.That(sched.LastStep, Is.EqualTo(s));
            if (s < steps) sched.Step();
        }
        return (lr.ToArray(), mom.ToArray());
    }

    private static Tensor Param() => Tensor.Zeros([1]).AsParameter();

    [Test]
    public void OneCycleMatchesPyTorch()
    {
        var v = new VectorFile("optim");
        using var w = Param();
        using var sgd = new Sgd([w], lr: 0.1, momentum: 0.9);
        var (lr, mom) = Run(sgd, o => new OneCycleLR(o, maxLr: 0.4, totalSteps: 25), 25);
        Approx.Equal(v.Doubles("onecycle_sgd.lr"), lr, 1e-12, 1e-15, "onecycle sgd lr");
        Approx.Equal(v.Doubles("onecycle_sgd.momentum"), mom, 1e-12, 1e-15, "onecycle sgd momentum");

        using var adam = new Adam([w], lr: 1e-3);
        (lr, mom) = Run(adam, o => new OneCycleLR(o, maxLr: 3e-3, totalSteps: 17, pctStart: 0.25, divFactor: 10, finalDivFactor: 100), 17);
        Approx.Equal(v.Doubles("onecycle_adam.lr"), lr, 1e-12, 1e-15, "onecycle adam lr");
        Approx.Equal(v.Doubles("onecycle_adam.beta1"), mom, 1e-12, 1e-15, "onecycle adam beta1");

        using var sgd3 = new Sgd([w], lr: 0.1, momentum: 0.9);
        (lr, mom) = Run(sgd3, o => new OneCycleLR(o, maxLr: 0.2, totalSteps: 20, anneal: OneCycleLR.Anneal.Linear, threePhase: true), 20);
        Approx.Equal(v.Doubles("onecycle_3p.lr"), lr, 1e-12, 1e-15, "three-phase lr");
        Approx.Equal(v.Doubles("onecycle_3p.momentum"), mom, 1e-12, 1e-15, "three-phase momentum");
    }

    /// <summary>A one-step warm-up (pctStart·total = 1) is a phase of length 0: once it made the
    /// momentum 0/0 = NaN, and one Adam step turned every weight into NaN.</summary>
    [TestCase(5, 0.2, false), TestCase(5, 0.2, true), TestCase(1, 0.3, false), TestCase(2, 0.5, true)]
    public void OneCycleStaysFiniteWithZeroLengthPhases(int total, double pctStart, bool threePhase)
    {
        using var w = Param();
        using var sgd = new Sgd([w], lr: 0.1, momentum: 0.9);
        var s = new OneCycleLR(sgd, 0.1, totalSteps: total, pctStart: pctStart, threePhase: threePhase);
        for (int i = 0; i <= total; i++)
        {
            Assert.That(double.IsFinite(s.LrAt(0, i)), $"lr at step {i}");
            Assert.That(double.IsFinite(s.MomentumAt(0, i)!.Value), $"momentum at step {i}");
        }
    }

    [Test]
    public void OneCycleRefusesToStepPastTheEnd()
    {
        using var w = Param();
        using var sgd = new Sgd([w], lr: 0.1, momentum: 0.9);
        var s = new OneCycleLR(sgd, 0.1, totalSteps: 3);
        for (int i = 0; i < 3; i++) s.Step();
        Assert.Throws<InvalidOperationException>(() => s.Step());
    }

    [Test]
    public void CosineStepAndMultiStepMatchPyTorch()
    {
        var v = new VectorFile("optim");
        using var w = Param();
        using (var o = new Sgd([w], lr: 0.1, momentum: 0.9))
            Approx.Equal(v.Doubles("cosine.lr"), Run(o, x => new CosineAnnealingLR(x, 10, 0.001), 10).Lr, 1e-12, 1e-15, "cosine");
        using (var o = new Sgd([w], lr: 0.1, momentum: 0.9))
            Approx.Equal(v.Doubles("step.lr"), Run(o, x => new StepLR(x, 3, 0.5), 12).Lr, 1e-12, 1e-15, "step");
        using (var o = new Sgd([w], lr: 0.1, momentum: 0.9))
            Approx.Equal(v.Doubles("multistep.lr"), Run(o, x => new MultiStepLR(x, [2, 5, 9], 0.1), 11).Lr, 1e-12, 1e-15, "multistep");
    }

    [Test]
    public void ScheduleStateRestoresTheStep()
    {
        using var w = Param();
        using var a = new Sgd([w], lr: 0.1, momentum: 0.9);
        using var b = new Sgd([w], lr: 0.1, momentum: 0.9);
        var sa = new OneCycleLR(a, 0.5, totalSteps: 30);
        var sb = new OneCycleLR(b, 0.5, totalSteps: 30);
        for (int i = 0; i < 11; i++) sa.Step();
        sb.LoadStateDict(sa.StateDict());
        Assert.That(sb.LastStep, Is.EqualTo(11));
        Assert.That(b.Groups[0].Lr, Is.EqualTo(a.Groups[0].Lr));
        Assert.That(b.Groups[0].Momentum, Is.EqualTo(a.Groups[0].Momentum));
        sa.Step();
        sb.Step();
        Assert.That(b.Groups[0].Lr, Is.EqualTo(a.Groups[0].Lr));
        var ex = Assert.Throws<ArgumentException>(() => new StepLR(b, 3).LoadStateDict(sa.StateDict()));
        Assert.That(ex!.Message, Does.Contain("OneCycleLR"));
    }
}
