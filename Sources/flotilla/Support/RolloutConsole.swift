import FlotillaEngine
import FlotillaServer
import Foundation

/// Where `rollout`, `converge`, `revert` and `worker` show a rollout's events.
///
/// - `--output json`: one JSON object per event on standard output (NDJSON, ``EventStream``); everything else the
///   command prints goes to standard error.
/// - On a terminal: the live view (``LiveProgress``), redrawn in place at most ten times a second from the journal,
///   with the plain lines of what happened (phases, waves, failures, halts) kept above it. `NO_COLOR` drops the
///   colours, not the redrawing.
/// - Otherwise: today's plain lines (``ProgressPrinter``).
final class RolloutConsole: @unchecked Sendable {
    enum Mode: Equatable {
        case plain
        case live(color: Bool)
        case json
    }

    let mode: Mode
    let printer: ProgressPrinter
    private let lock = NSLock()
    private var context: EventStream.Context
    /// The NDJSON destination: the process's original standard output.
    private let stream: FileHandle?
    // The live view: what is on screen, and what waits to be drawn.
    private var drawnLines = 0
    private var block: [String] = []
    private var pendingLog: [String] = []
    private var lastDraw = Date.distantPast
    private var baking: (wave: String, until: Date)?
    /// What this coordinator's events said, ahead of the journal (whose step rows are written in batches): the
    /// phase running and its position, and each step that ended, by phase and tenant.
    private var seen = Seen()

    struct Seen: Sendable {
        var phase: (name: String, number: Int, of: Int)?
        var steps: [String: StepState] = [:]

        static func key(_ phase: String, _ tenant: String) -> String { "\(phase)\u{0}\(tenant)" }
    }

    /// Picks the mode: `json` when asked; the live view when standard output is a terminal (not `TERM=dumb`);
    /// plain lines otherwise. In json mode, standard output becomes standard error for everything but the stream.
    /// `live` false: plain lines even on a terminal (a worker has no one rollout to draw).
    init(output: OutputFormat, verbose: Bool, context: EventStream.Context, live: Bool = true) {
        printer = ProgressPrinter(verbose: verbose)
        self.context = context
        let environment = ProcessInfo.processInfo.environment
        if output == .json {
            mode = .json
            fflush(nil)
            let original = dup(STDOUT_FILENO)
            dup2(STDERR_FILENO, STDOUT_FILENO)
            stream = FileHandle(fileDescriptor: original, closeOnDealloc: false)
        } else if live, isatty(STDOUT_FILENO) == 1, environment["TERM"] != "dumb" {
            mode = .live(color: (environment["NO_COLOR"] ?? "").isEmpty)
            stream = nil
        } else {
            mode = .plain
            stream = nil
        }
    }

    /// Plain lines from `printer`, whatever the standard output is.
    init(plain printer: ProgressPrinter) {
        self.printer = printer
        context = EventStream.Context()
        mode = .plain
        stream = nil
    }

    var rolloutID: String? { lock.withLock { context.rollout } }

    /// Changes what the stream adds to events (the rollout's tenants' shards and waves once planned).
    func update(_ change: (inout EventStream.Context) -> Void) {
        lock.withLock { change(&context) }
    }

    /// Learns each tenant's wave and shard from a rollout's steps in the journal (for a revert, which has no plan).
    func learnSteps(of rollout: String, store: ControlStore) async {
        guard let steps = try? await store.steps(rollout) else { return }
        update { context in
            for step in steps {
                context.shards[step.tenant] = step.shard
                context.waves[step.tenant] = step.wave
            }
        }
    }

    func callAsFunction(_ event: RolloutEvent) {
        switch mode {
        case .plain:
            printer(event)
        case .json:
            let lines = lock.withLock { EventStream.lines(for: event, context: &context) }
            guard !lines.isEmpty, let stream else { return }
            // One write per event: lines from concurrent steps never interleave.
            stream.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        case .live(let color):
            let line = printer.line(for: event)
            lock.withLock {
                switch event {
                case .started(let rollout, _), .following(let rollout):
                    context.rollout = rollout
                case .baking(_, let wave, let duration):
                    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                    baking = (wave, Date().addingTimeInterval(seconds))
                case .waveStarted, .finished:
                    baking = nil
                case .phaseStarted(let phase, let number, let total):
                    seen.phase = (phase, number, total)
                case .stepApplied(let phase, let tenant, _, _):
                    seen.steps[Seen.key(phase, tenant)] = .applied
                case .stepFailed(let error):
                    seen.steps[Seen.key(error.phase, error.tenant)] = .failed
                case .stepReverted(let phase, let tenant):
                    seen.steps[Seen.key(phase, tenant)] = .reverted
                case .quarantined(let phase, let tenants):
                    for tenant in tenants { seen.steps[Seen.key(phase, tenant)] = .quarantined }
                default: break
                }
                guard let line else { return }
                let urgent: Bool
                if case .halting = event { urgent = true } else { urgent = false }
                pendingLog.append(urgent ? LiveProgress.paint(line, .red, color) : line)
                if Date().timeIntervalSince(lastDraw) >= 0.1 { drawLocked() }
            }
        }
    }

    /// Runs `body` with the live view drawn beside it (in the other modes, just runs it); the last state stays on
    /// screen when it returns.
    func showing<T: Sendable>(_ store: ControlStore, _ body: () async throws -> T) async throws -> T {
        guard case .live(let color) = mode else { return try await body() }
        let watcher = Task { await self.watch(store, color: color) }
        do {
            let result = try await body()
            watcher.cancel()
            await watcher.value
            await refresh(store, color: color, meter: nil)
            return result
        } catch {
            watcher.cancel()
            await watcher.value
            lock.withLock { drawLocked() }
            throw error
        }
    }

    /// Every 100 ms draws what waits; every 500 ms (or more) reads the journal first and redraws the view.
    /// A big rollout's journal takes longer to read: it is read at most a fifth of the time, so that the view never
    /// costs the coordinator much.
    private func watch(_ store: ControlStore, color: Bool) async {
        var meter = ProgressMeter()
        let clock = ContinuousClock()
        var nextRead = clock.now
        while !Task.isCancelled {
            if clock.now >= nextRead {
                let start = clock.now
                meter = await refresh(store, color: color, meter: meter) ?? meter
                nextRead = clock.now + max(.milliseconds(500), (clock.now - start) * 5)
            } else {
                lock.withLock { if !pendingLog.isEmpty { drawLocked() } }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Reads the rollout's journal and redraws; returns the meter with this reading in it.
    @discardableResult
    private func refresh(_ store: ControlStore, color: Bool, meter: ProgressMeter?) async -> ProgressMeter? {
        guard let id = rolloutID else {
            lock.withLock { drawLocked() }
            return meter
        }
        let (baking, seen) = lock.withLock { (self.baking, self.seen) }
        guard let progress = await Self.progress(id, store: store, baking: baking, meter: meter, seen: seen)
        else { return meter }
        let lines = progress.view.render(width: Self.columns(), color: color)
        lock.withLock {
            block = lines
            drawLocked()
        }
        return progress.meter
    }

    /// The live view of a rollout from its journal, and the meter with this reading in it.
    static func progress(
        _ id: String, store: ControlStore, baking: (wave: String, until: Date)?, meter: ProgressMeter?,
        seen: Seen = Seen()
    ) async -> (view: LiveProgress, meter: ProgressMeter?)? {
        guard var record = try? await store.rollout(id: id), var steps = try? await store.steps(id) else { return nil }
        if let phase = seen.phase, !record.state.isFinished { record.currentPhase = phase.name }
        if !seen.steps.isEmpty {
            for index in steps.indices {
                if let state = seen.steps[Seen.key(steps[index].phase, steps[index].tenant)] {
                    steps[index].state = state
                }
            }
        }
        let measurements = (try? await store.recentMeasurements(id, perCheck: 1)) ?? []
        let verdicts = (try? await store.checkVerdicts(id)) ?? []
        let halts = (try? await store.activeHalts()) ?? []
        var view = LiveProgress.make(
            record: record, steps: steps, measurements: measurements, verdicts: verdicts, halts: halts, baking: baking)
        if let phase = seen.phase, view.phase == phase.name {
            view.phaseNumber = phase.number
            view.phaseCount = phase.of
        }
        var meter = meter
        if meter != nil {
            let finished = view.waves.reduce(0) { $0 + $1.done + $1.failed + $1.quarantined + $1.reverted }
            meter?.record(finished, at: Date())
            view.rate = meter?.rate
        }
        return (view, meter)
    }

    /// Moves the cursor up over the block drawn last, clears to the end of the screen, prints the lines that
    /// happened since, then the block again.
    private func drawLocked() {
        var out = ""
        if drawnLines > 0 { out += "\u{1B}[\(drawnLines)A\r\u{1B}[J" }
        for line in pendingLog { out += line + "\n" }
        pendingLog.removeAll()
        for line in block { out += line + "\n" }
        drawnLines = block.count
        lastDraw = Date()
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    /// The terminal's width (80 when it cannot be read).
    static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
