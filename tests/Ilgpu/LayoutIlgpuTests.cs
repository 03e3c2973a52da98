using Kernels.Ilgpu;
using Kernels.Ops.Layout;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ILGPU layout kernels on ilgpu-cpu against the cpu reference, bit for bit (copies are
/// exact and the scatter-adds sum in the same index order), on cases beyond the self-test: int32
/// for every copy, rank 5 permutations, gathers along a middle axis with an index smaller than x,
/// and the dtype checks.</summary>
public class LayoutIlgpuTests
{
    private static Device Dev => IlgpuCpuDevice.Instance;

    /// <summary>Buffers of one run; outputs start poisoned so that a missed element shows.</summary>
    private sealed class Io(Device device) : IDisposable
    {
        private readonly List<DeviceBuffer> _buffers = [];
        public Device Device => device;

        public DeviceBuffer F(float[] v) => Keep(DType.F32, v.Length, b => device.Upload<float>(v, b));
        public DeviceBuffer I(int[] v) => Keep(DType.I32, v.Length, b => device.Upload<int>(v, b));
        public DeviceBuffer OutF(long n) => F(Enumerable.Repeat(float.NaN, (int)n).ToArray());
        public DeviceBuffer OutI(long n) => I(Enumerable.Repeat(int.MinValue, (int)n).ToArray());

        private DeviceBuffer Keep(DType t, int n, Action<DeviceBuffer> fill)
        {
            var b = device.Allocate(t, n);
            fill(b);
            _buffers.Add(b);
            return b;
        }

        public void Dispose()
        {
            foreach (var b in _buffers) b.Dispose();
        }
    }

    private static int[] Bits(Device device, DeviceBuffer b)
    {
        var v = new int[b.Length];
        if (b.DType == DType.I32) device.Download<int>(b, v);
        else
        {
            var f = new float[b.Length];
            device.Download<float>(b, f);
            for (int i = 0; i < f.Length; i++) v[i] = BitConverter.SingleToInt32Bits(f[i]);
        }
        return v;
    }

    /// <summary>Runs <paramref name="body"/> with the cpu and the ilgpu implementation; the returned
    /// output buffers must match bit for bit.</summary>
    private static void Same(string what, Func<ILayout, Io, DeviceBuffer> body)
    {
        using var cpuIo = new Io(Device.Cpu);
        using var devIo = new Io(Dev);
        var expected = Bits(Device.Cpu, body(new LayoutCpu(), cpuIo));
        var actual = Bits(Dev, body(new LayoutIlgpu(Dev), devIo));
        Assert.That(actual, Is.EqualTo(expected), what);
    }

    private static float[] Floats(long n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray();
    }

    private static int[] Ints(long n, int lo, int hi, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => r.Next(lo, hi)).ToArray();
    }

    [Test]
    public void Int32CopiesMatchTheCpu()
    {
        var copy = new AxisCopyShape(3, 7, 5, 4, 2, 1, 3);
        var xc = Ints(3 * 7 * 4, -50, 50, 1);
        Same("axis-copy int32", (k, io) => { var y = io.OutI(3 * 5 * 4); k.AxisCopy(copy, io.I(xc), y); return y; });

        var pad = new PadShape(new Shape(2, 3, 5), new Shape(3, 6, 8), [1, 2, 0]);
        var xs = Ints(pad.Small.Numel, -50, 50, 2);
        var xl = Ints(pad.Large.Numel, -50, 50, 3);
        Same("pad int32", (k, io) => { var y = io.OutI(pad.Large.Numel); k.Pad(pad, 7, io.I(xs), y); return y; });
        Same("crop int32", (k, io) => { var y = io.OutI(pad.Small.Numel); k.Crop(pad, io.I(xl), y); return y; });

        var gather = new GatherShape(new Shape(5, 6, 4), new Shape(4, 3, 2), 1);
        var xg = Ints(gather.X.Numel, -50, 50, 4);
        var idx = Ints(gather.Index.Numel, 0, 6, 5);
        Same("gather int32", (k, io) => { var y = io.OutI(gather.Index.Numel); k.Gather(gather, io.I(xg), io.I(idx), y); return y; });

        var sel = new IndexSelectShape(2, 7, 5, 3);
        var xi = Ints(2 * 7 * 3, -50, 50, 6);
        var si = Ints(5, 0, 7, 7);
        Same("index-select int32", (k, io) => { var y = io.OutI(2 * 5 * 3); k.IndexSelect(sel, io.I(xi), io.I(si), y); return y; });
    }

    [Test]
    public void RankFivePermutationsAndPads()
    {
        var shape = new Shape(2, 3, 1, 4, 5);
        var x = Floats(shape.Numel, 8);
        foreach (var axes in new[] { new[] { 4, 3, 2, 1, 0 }, [1, 4, 0, 2, 3], [0, 1, 2, 4, 3], [0, 1, 2, 3, 4] })
            Same($"permute {shape} by [{string.Join(',', axes)}]", (k, io) =>
            {
                var y = io.OutF(shape.Numel);
                k.Permute(shape, axes, io.F(x), y);
                return y;
            });
        var pad = new PadShape(new Shape(2, 1, 3, 2, 3), new Shape(3, 3, 4, 2, 6), [1, 1, 0, 0, 2]);
        var xs = Floats(pad.Small.Numel, 9);
        var xl = Floats(pad.Large.Numel, 10);
        Same("pad rank 5", (k, io) => { var y = io.OutF(pad.Large.Numel); k.Pad(pad, -3.25, io.F(xs), y); return y; });
        Same("crop rank 5", (k, io) => { var y = io.OutF(pad.Small.Numel); k.Crop(pad, io.F(xl), y); return y; });
    }

    [Test]
    public void GatherAndItsBackwardAlongEveryAxisWithAnIndexSmallerThanX()
    {
        var xShape = new Shape(4, 5, 6);
        var iShape = new Shape(3, 4, 2); // smaller than x off the axis; along it, 7 entries (longer than x)
        for (int axis = 0; axis < 3; axis++)
        {
            var ish = iShape.With(axis, 7);
            var s = new GatherShape(xShape, ish, axis);
            var x = Floats(xShape.Numel, 11 + axis);
            var idx = Ints(ish.Numel, 0, xShape[axis], 20 + axis); // many repeats: sums of several terms
            var dy = Floats(ish.Numel, 30 + axis);
            Same($"gather axis {axis}", (k, io) => { var y = io.OutF(ish.Numel); k.Gather(s, io.F(x), io.I(idx), y); return y; });
            Same($"gather-backward axis {axis}", (k, io) =>
            {
                var dx = io.OutF(xShape.Numel);
                k.GatherBackward(s, io.I(idx), io.F(dy), dx);
                return dx;
            });
        }
    }

    [Test]
    public void IndexAddSumsRepeatsAndZeroesUnselectedRows()
    {
        var s = new IndexSelectShape(3, 6, 11, 5);
        int[] idx = [0, 2, 2, 5, 0, 2, 3, 3, 0, 5, 2]; // rows 1 and 4 never selected
        var dy = Floats(3 * 11 * 5, 40);
        Same("index-add", (k, io) => { var dx = io.OutF(3 * 6 * 5); k.IndexAdd(s, io.I(idx), io.F(dy), dx); return dx; });
    }

    [Test]
    public void FindBadIndexReportsTheFirst()
    {
        var layout = new LayoutIlgpu(Dev);
        using var io = new Io(Dev);
        Assert.That(layout.FindBadIndex(5, io.I([0, 1, 2, 3, 4]), 5), Is.EqualTo(-1));
        Assert.That(layout.FindBadIndex(5, io.I([-1, 1, 9, 3, 4]), 5), Is.EqualTo(0));
        Assert.That(layout.FindBadIndex(600, io.I([.. Enumerable.Range(0, 600).Select(i => i is 333 or 517 ? 600 : i)]), 600),
            Is.EqualTo(333));
        // Only the first n entries count.
        Assert.That(layout.FindBadIndex(3, io.I([0, 1, 2, -5]), 3), Is.EqualTo(-1));
    }

    [Test]
    public void Float64AndMixedTypesAreRejected()
    {
        var layout = new LayoutIlgpu(Dev);
        using var d = Dev.Allocate(DType.F64, 6);
        using var d2 = Dev.Allocate(DType.F64, 6);
        using var f = Dev.Allocate(DType.F32, 6);
        using var i = Dev.Allocate(DType.I32, 6, zero: true);
        Assert.Throws<NotSupportedException>(() => layout.Permute(new Shape(2, 3), [1, 0], d, d2));
        Assert.Throws<NotSupportedException>(() => layout.Permute(new Shape(2, 3), [1, 0], f, i));
        Assert.Throws<NotSupportedException>(() => layout.IndexAdd(new IndexSelectShape(1, 6, 1, 1), i, i, i));
    }
}
