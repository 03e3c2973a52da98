using System.Diagnostics;
using Kernels.Bindings.Cuda;

namespace Kernels;

/// <summary>What a profiled call was.</summary>
public enum ProfiledKind : byte
{
    Kernel,
    Cublas,
    CopyHostToDevice,
    CopyDeviceToHost,
    CopyDeviceToDevice,
    Memset,
    Synchronize,
    /// <summary>A buffer served from the caching allocator (cuda) or allocated (ilgpu-cpu, no cache).</summary>
    Allocation,
    /// <summary>A cuda buffer the caching allocator had to get from the driver (cuMemAlloc).</summary>
    AllocationMiss,
}

/// <summary>Opt-in call profiler of the device paths: counts every kernel launch (ILGPU kernels by
/// their C# name, native kernels by their CUDA name), cuBLAS call, copy, memset, synchronisation and
/// buffer allocation on one device, and with timing on measures each call's host time (the time
/// spent issuing it) and, on cuda, its device time with a pair of CUDA events around it (no
/// synchronisation inside the profiled work, so the GPU timeline is not perturbed beyond the event
/// records). On ilgpu-cpu a launch is synchronous, so device time is the host time. Off by default:
/// then each hook costs one static read. One session at a time, process-wide.</summary>
public static class KernelProfiler
{
    private static ProfileSession? s_session;

    public static bool IsActive => Volatile.Read(ref s_session) is not null;

    /// <summary>Starts profiling <paramref name="device"/>'s calls; dispose or Stop the session to end.</summary>
    public static ProfileSession Start(Device device, bool timing = true)
    {
        // Earlier work is finished before the session counts (this synchronisation is not counted).
        device.Synchronize();
        var session = new ProfileSession(device, timing);
        if (Interlocked.CompareExchange(ref s_session, session, null) is not null)
        {
            session.Release();
            throw new InvalidOperationException("a KernelProfiler session is already running; stop it first");
        }
        session.Attach();
        return session;
    }

    internal static void Detach(ProfileSession session) => Interlocked.CompareExchange(ref s_session, null, session);

    /// <summary>Marks a call on <paramref name="device"/>: dispose the scope when it was issued.</summary>
    public static ProfileScope Call(Device device, ProfiledKind kind, string name)
    {
        var s = Volatile.Read(ref s_session);
        return s is null ? default : s.Begin(device, kind, name);
    }

    /// <summary>As <see cref="Call"/>, the name built only while a session runs (no string work when off).</summary>
    public static ProfileScope Call<TState>(Device device, ProfiledKind kind, TState state, Func<TState, string> name)
    {
        var s = Volatile.Read(ref s_session);
        return s is null ? default : s.Begin(device, kind, name(state));
    }

    /// <summary>Counts an instantaneous event (an allocation).</summary>
    public static void Count(Device device, ProfiledKind kind, string name)
    {
        var s = Volatile.Read(ref s_session);
        if (s is not null) s.Begin(device, kind, name).Dispose();
    }
}

/// <summary>An open profiled call; Dispose ends it (a default scope does nothing).</summary>
public readonly struct ProfileScope : IDisposable
{
    private readonly ProfileSession? _session;
    internal readonly int Index;

    internal ProfileScope(ProfileSession session, int index)
    {
        _session = session;
        Index = index;
    }

    public void Dispose() => _session?.End(Index);
}

/// <summary>One row of a profile: calls of one (kind, name) with their summed times.</summary>
public sealed record ProfileRow(ProfiledKind Kind, string Name, long Calls, double HostMs, double DeviceMs);

/// <summary>A finished profile. <see cref="WallMs"/> runs from Start to Stop, the device
/// synchronised at both ends.</summary>
public sealed record ProfileReport(string Device, bool Timed, double WallMs, IReadOnlyList<ProfileRow> Rows)
{
    public long CallsOf(ProfiledKind kind) => Rows.Where(r => r.Kind == kind).Sum(r => r.Calls);

    public long CallsOf(ProfiledKind kind, string nameContains) =>
        Rows.Where(r => r.Kind == kind && r.Name.Contains(nameContains, StringComparison.Ordinal)).Sum(r => r.Calls);

    /// <summary>Device time of the work that occupies the device (kernels, cuBLAS, copies, memsets).</summary>
    public double BusyMs => Rows.Where(r => r.Kind is not (ProfiledKind.Synchronize or ProfiledKind.Allocation or ProfiledKind.AllocationMiss))
        .Sum(r => r.DeviceMs);
}

/// <summary>A running profile of one device (see <see cref="KernelProfiler"/>).</summary>
public sealed class ProfileSession : ICudaCallObserver, IDisposable
{
    private struct Entry
    {
        public ProfiledKind Kind;
        public string Name;
        public long HostStart, HostEnd;
        public nint EventStart, EventEnd;
    }

    // Calls issued inside a profiled call (the stream launch of an ILGPU kernel, the copies of an
    // upload) belong to it and are not counted again.
    [ThreadStatic] private static int t_depth;

    private readonly Device _device;
    private readonly CudaDevice? _cuda;
    private readonly bool _timing;
    private readonly Lock _gate = new();
    private readonly List<Entry> _entries = [];
    private readonly Stack<nint> _freeEvents = new();
    private readonly List<nint> _allEvents = [];
    private long _start;
    private ProfileReport? _report;

    internal ProfileSession(Device device, bool timing)
    {
        _device = device;
        _cuda = device as CudaDevice;
        _timing = timing;
    }

    public Device Device => _device;

    /// <summary>Events created before the clock starts: creating them inside the profiled work would
    /// add host time to it (more are created on demand).</summary>
    private const int PrecreatedEvents = 2048;

    internal void Attach()
    {
        if (_cuda is not null && _timing)
        {
            _cuda.MakeCurrent();
            for (int i = 0; i < PrecreatedEvents; i++)
            {
                var e = CudaEvents.Create();
                _allEvents.Add(e);
                _freeEvents.Push(e);
            }
        }
        if (_cuda is not null) CudaStream.Observer = this;
        _start = Stopwatch.GetTimestamp();
    }

    internal ProfileScope Begin(Device device, ProfiledKind kind, string name)
    {
        if (!ReferenceEquals(device, _device) || _report is not null) return default;
        return new ProfileScope(this, Open(kind, name));
    }

    private int Open(ProfiledKind kind, string name)
    {
        if (t_depth++ > 0) return -1;
        var e = new Entry { Kind = kind, Name = name };
        if (_timing && _cuda is not null && kind is not (ProfiledKind.Allocation or ProfiledKind.AllocationMiss or ProfiledKind.Synchronize))
        {
            e.EventStart = TakeEvent();
            e.EventEnd = TakeEvent();
            CudaEvents.Record(e.EventStart, _cuda.Stream);
        }
        e.HostStart = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            _entries.Add(e);
            return _entries.Count - 1;
        }
    }

    /// <summary>Token of a call seen after the session stopped: nothing to close.</summary>
    private const int NotOpened = -2;

    internal void End(int index)
    {
        if (index == NotOpened) return;
        t_depth--;
        if (index < 0) return;
        long now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            var e = _entries[index];
            e.HostEnd = now;
            if (e.EventEnd != 0) CudaEvents.Record(e.EventEnd, _cuda!.Stream);
            _entries[index] = e;
        }
    }

    int ICudaCallObserver.Begin(CudaStream stream, CudaCallKind kind, string name) =>
        _report is not null ? NotOpened : Open(kind switch
        {
            CudaCallKind.Kernel => ProfiledKind.Kernel,
            CudaCallKind.CopyHostToDevice => ProfiledKind.CopyHostToDevice,
            CudaCallKind.CopyDeviceToHost => ProfiledKind.CopyDeviceToHost,
            CudaCallKind.CopyDeviceToDevice => ProfiledKind.CopyDeviceToDevice,
            CudaCallKind.Memset => ProfiledKind.Memset,
            _ => ProfiledKind.Synchronize,
        }, name);

    void ICudaCallObserver.End(int token) => End(token);

    private nint TakeEvent()
    {
        if (_freeEvents.Count > 0) return _freeEvents.Pop();
        var e = CudaEvents.Create();
        _allEvents.Add(e);
        return e;
    }

    /// <summary>Ends the session (the device synchronised first) and sums the calls per (kind, name).</summary>
    public ProfileReport Stop()
    {
        if (_report is not null) return _report;
        // Detach first: the final synchronisation is the profiler's, not the profiled work's.
        if (_cuda is not null && ReferenceEquals(CudaStream.Observer, this)) CudaStream.Observer = null;
        KernelProfiler.Detach(this);
        _device.Synchronize();
        double wall = Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
        var sums = new Dictionary<(ProfiledKind, string), (long Calls, double Host, double Dev)>();
        double tickMs = 1000.0 / Stopwatch.Frequency;
        lock (_gate)
        {
            foreach (var e in _entries)
            {
                double host = (e.HostEnd - e.HostStart) * tickMs;
                double dev = e.EventStart != 0 ? CudaEvents.ElapsedMs(e.EventStart, e.EventEnd)
                    : _cuda is null && e.Kind is not (ProfiledKind.Allocation or ProfiledKind.AllocationMiss) ? host : 0;
                var key = (e.Kind, e.Name);
                sums.TryGetValue(key, out var acc);
                sums[key] = (acc.Calls + 1, acc.Host + host, acc.Dev + dev);
            }
        }
        var rows = sums.Select(kv => new ProfileRow(kv.Key.Item1, kv.Key.Item2, kv.Value.Calls, kv.Value.Host, kv.Value.Dev))
            .OrderByDescending(r => r.DeviceMs).ThenByDescending(r => r.Calls).ThenBy(r => r.Name, StringComparer.Ordinal)
            .ToList();
        _report = new ProfileReport(_device.Name, _timing, wall, rows);
        Release();
        return _report;
    }

    internal void Release()
    {
        if (_allEvents.Count > 0)
        {
            _cuda!.MakeCurrent();
            foreach (var e in _allEvents) CudaEvents.Destroy(e);
            _allEvents.Clear();
            _freeEvents.Clear();
        }
    }

    public void Dispose() => Stop();
}
