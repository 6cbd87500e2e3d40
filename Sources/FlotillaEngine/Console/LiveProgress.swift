import Foundation

/// What the live terminal view of a rollout shows, read from the journal (steps, measurements, halts) and the
/// events of a running coordinator: one line per wave of the current phase with a bar, rate and ETA, the checks'
/// latest verdicts during a bake, and the active halt. ``render(width:color:now:)`` is pure: lines in, no terminal.
public struct LiveProgress: Sendable, Equatable {
    /// One wave of the current phase: its steps by state.
    public struct Wave: Sendable, Equatable {
        public var name: String
        public var total: Int
        public var done: Int
        public var running: Int
        public var failed: Int
        public var quarantined: Int
        public var reverted: Int

        public init(
            name: String, total: Int, done: Int = 0, running: Int = 0, failed: Int = 0, quarantined: Int = 0,
            reverted: Int = 0
        ) {
            self.name = name
            self.total = total
            self.done = done
            self.running = running
            self.failed = failed
            self.quarantined = quarantined
            self.reverted = reverted
        }

        public var finished: Bool { done + failed + quarantined + reverted >= total }
    }

    /// A check's latest word: a measurement during the bake, or its verdict over a wave.
    public struct CheckLine: Sendable, Equatable {
        public var check: String
        public var verdict: String
        public var detail: String

        public init(check: String, verdict: String, detail: String) {
            self.check = check
            self.verdict = verdict
            self.detail = detail
        }

        var healthy: Bool { ["pass", "passed"].contains(verdict) }
    }

    public var rollout: String
    public var title: String
    public var state: String
    public var phase: String?
    public var phaseNumber: Int?
    public var phaseCount: Int?
    public var waves: [Wave]
    public var checks: [CheckLine]
    /// The wave baking and when its bake ends.
    public var baking: (wave: String, until: Date)?
    /// The active halt, in words.
    public var halt: String?
    /// Steps finished a second, over the recent past; nil until known.
    public var rate: Double?

    public init(
        rollout: String, title: String, state: String, phase: String? = nil, phaseNumber: Int? = nil,
        phaseCount: Int? = nil, waves: [Wave] = [], checks: [CheckLine] = [],
        baking: (wave: String, until: Date)? = nil,
        halt: String? = nil, rate: Double? = nil
    ) {
        self.rollout = rollout
        self.title = title
        self.state = state
        self.phase = phase
        self.phaseNumber = phaseNumber
        self.phaseCount = phaseCount
        self.waves = waves
        self.checks = checks
        self.baking = baking
        self.halt = halt
        self.rate = rate
    }

    public static func == (lhs: LiveProgress, rhs: LiveProgress) -> Bool {
        lhs.rollout == rhs.rollout && lhs.title == rhs.title && lhs.state == rhs.state && lhs.phase == rhs.phase
            && lhs.waves == rhs.waves && lhs.checks == rhs.checks && lhs.halt == rhs.halt && lhs.rate == rhs.rate
            && lhs.baking?.wave == rhs.baking?.wave && lhs.baking?.until == rhs.baking?.until
    }

    /// Steps of the current phase not finished yet.
    public var remaining: Int {
        waves.reduce(0) { $0 + max(0, $1.total - $1.done - $1.failed - $1.quarantined - $1.reverted) }
    }

    /// Seconds left at the current rate; nil when the rate is not known or nothing moves.
    public var etaSeconds: Int? {
        guard let rate, rate > 0, remaining > 0 else { return nil }
        return Int((Double(remaining) / rate).rounded(.up))
    }

    // MARK: - Building it from the journal

    /// The view of a rollout from its journal rows: the current phase (the rollout's, else the last one with a step
    /// that is not pending), its waves in order, each check's newest measurement or verdict, the active halt.
    public static func make(
        record: ControlStore.RolloutRecord, steps: [ControlStore.StepRecord],
        measurements: [ControlStore.MeasurementRecord] = [], verdicts: [ControlStore.CheckVerdictRecord] = [],
        halts: [HaltRecord] = [], rate: Double? = nil, baking: (wave: String, until: Date)? = nil
    ) -> LiveProgress {
        var phases: [String] = []
        for step in steps where !phases.contains(step.phase) { phases.append(step.phase) }
        let current =
            record.currentPhase.flatMap { phases.contains($0) ? $0 : nil }
            ?? phases.last { phase in steps.contains { $0.phase == phase && $0.state != .pending } } ?? phases.first
        var waves: [Wave] = []
        for step in steps where step.phase == current {
            var index = waves.firstIndex { $0.name == step.wave }
            if index == nil {
                waves.append(Wave(name: step.wave, total: 0))
                index = waves.count - 1
            }
            guard let index else { continue }
            waves[index].total += 1
            switch step.state {
            case .applied: waves[index].done += 1
            case .running: waves[index].running += 1
            case .failed: waves[index].failed += 1
            case .quarantined: waves[index].quarantined += 1
            case .reverted: waves[index].reverted += 1
            default: break
            }
        }
        var checks: [CheckLine] = []
        // Newest first: a check's first row is its latest word.
        let newest =
            measurements.map {
                (
                    $0.measurement.at, $0.measurement.check, $0.measurement.verdict.rawValue,
                    "\($0.measurement.target): \($0.measurement.detail)"
                )
            }
            + verdicts.map { ($0.at, $0.check, $0.verdict, $0.reason ?? "\($0.phase)/\($0.wave)") }
        for (_, check, verdict, detail) in newest.sorted(by: { $0.0 > $1.0 })
        where !checks.contains(where: { $0.check == check }) {
            checks.append(CheckLine(check: check, verdict: verdict, detail: detail))
        }
        checks.sort { $0.check < $1.check }
        let halt = halts.first { $0.fleet == nil || $0.fleet == record.fleet }
        let kind = record.kind == .rollout ? "rollout" : "\(record.kind.rawValue) rollout"
        return LiveProgress(
            rollout: record.id, title: "\(kind) \(record.id) · \(record.change) on \(record.fleet)",
            state: record.state.rawValue, phase: current,
            phaseNumber: current.flatMap { phases.firstIndex(of: $0) }.map { $0 + 1 },
            phaseCount: phases.count, waves: waves, checks: checks, baking: baking,
            halt: halt?.description, rate: rate)
    }

    // MARK: - Rendering

    /// The characters of the bar's cells: done, running, failed, quarantined, pending (reverted counts as done).
    public static let cells:
        (
            done: Character, running: Character, failed: Character, quarantined: Character,
            pending: Character
        ) = ("#", ">", "x", "q", ".")

    /// How many of `width` cells each count gets: the boundaries are the cumulative counts scaled and rounded, so
    /// the cells always add up to `width` and a bigger count never gets fewer cells than a smaller one before it.
    public static func bar(counts: [Int], total: Int, width: Int) -> [Int] {
        guard total > 0, width > 0 else { return counts.map { _ in 0 } }
        var cells: [Int] = []
        var sum = 0
        var previous = 0
        for count in counts {
            sum += max(0, count)
            let boundary = min(width, Int((Double(min(sum, total)) * Double(width) / Double(total)).rounded()))
            cells.append(boundary - previous)
            previous = boundary
        }
        return cells
    }

    /// `1:05`, `12:00:00`.
    public static func clock(_ seconds: Int) -> String {
        let hours = seconds / 3600
        let minutes = (seconds % 3600) / 60
        let rest = seconds % 60
        return hours > 0
            ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }

    /// The SGR colours the view uses.
    public enum Colour: String, Sendable {
        case red = "31"
        case green = "32"
        case yellow = "33"
        case magenta = "35"
        case dim = "2"
        case bold = "1"
    }

    /// `text` in `colour` (and back to normal after it) when `enabled`; else as is.
    public static func paint(_ text: String, _ colour: Colour, _ enabled: Bool) -> String {
        enabled && !text.isEmpty ? "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// Stored text made visible (control characters as `\xHH`, the rule of `terminalSafe`) and cut to `width`
    /// columns with a `…` when longer.
    public static func fit(_ text: String, width: Int) -> String {
        var visible = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                let digits = String(scalar.value, radix: 16)
                visible.append(contentsOf: "\\x\(digits.count < 2 ? "0" : "")\(digits)".unicodeScalars)
            } else {
                visible.append(scalar)
            }
        }
        let safe = String(visible)
        guard safe.count > width else { return safe }
        return width <= 1 ? String(safe.prefix(width)) : String(safe.prefix(width - 1)) + "…"
    }

    /// The lines to draw, each at most `width` columns (colour codes aside). `color` false: no escape sequence at
    /// all (`NO_COLOR`), the bar's cells still tell done, running, failed and quarantined apart.
    public func render(width: Int = 80, color: Bool = true, now: Date = Date()) -> [String] {
        let width = max(20, width)
        var lines: [String] = []
        func add(_ text: String, _ colour: Colour? = nil) {
            let fitted = Self.fit(text, width: width)
            lines.append(colour.map { Self.paint(fitted, $0, color) } ?? fitted)
        }
        if let halt { add("HALT \(halt)", .red) }
        add("\(title): \(state)", .bold)
        if let phase {
            let position = phaseNumber.map { n in phaseCount.map { " \(n)/\($0)" } ?? " \(n)" } ?? ""
            var tail = ""
            if let rate { tail += String(format: "  %.1f/s", rate) }
            if let eta = etaSeconds { tail += "  ETA \(Self.clock(eta))" }
            add("phase\(position) \(phase)\(tail)")
        }
        let nameWidth = min(14, waves.map(\.name.count).max() ?? 4)
        let barWidth = width >= 70 ? 20 : 10
        for wave in waves {
            let name = Self.fit(wave.name, width: nameWidth)
            let padded = name + String(repeating: " ", count: max(0, nameWidth - name.count))
            let counts = [wave.done + wave.reverted, wave.running, wave.failed, wave.quarantined]
            let cells = Self.bar(counts: counts, total: wave.total, width: barWidth)
            let pending = barWidth - cells.reduce(0, +)
            let glyphs = [Self.cells.done, Self.cells.running, Self.cells.failed, Self.cells.quarantined]
            let colours: [Colour] = [.green, .yellow, .red, .magenta]
            var bar = ""
            for index in cells.indices {
                bar += Self.paint(String(repeating: glyphs[index], count: cells[index]), colours[index], color)
            }
            bar += Self.paint(String(repeating: Self.cells.pending, count: max(0, pending)), .dim, color)
            var tail = "\(wave.done + wave.reverted)/\(wave.total)"
            if wave.running > 0 { tail += " \(wave.running) running" }
            if wave.failed > 0 { tail += " \(wave.failed) failed" }
            if wave.quarantined > 0 { tail += " \(wave.quarantined) quarantined" }
            if let baking, baking.wave == wave.name, baking.until > now {
                tail += " baking \(Self.clock(Int(baking.until.timeIntervalSince(now).rounded(.up))))"
            }
            // The bar has a fixed width: what follows it is cut to the rest of the line.
            let room = width - 2 - nameWidth - 1 - (barWidth + 2) - 1
            lines.append("  \(padded) [\(bar)] \(Self.fit(tail, width: max(1, room)))")
        }
        for check in checks {
            let colour: Colour = check.healthy ? .green : (check.verdict == "inconclusive" ? .yellow : .red)
            let head = "  check \(Self.fit(check.check, width: 24)) "
            let word = Self.paint(check.verdict, colour, color)
            let rest = Self.fit(": \(check.detail)", width: max(1, width - head.count - check.verdict.count))
            lines.append(head + word + rest)
        }
        return lines
    }
}

/// Steps finished a second, over the last `window` seconds of samples: what the live view shows as rate (and ETA).
public struct ProgressMeter: Sendable {
    public var window: TimeInterval
    private var samples: [(at: Date, finished: Int)] = []

    public init(window: TimeInterval = 10) {
        self.window = window
    }

    /// Adds a sample (steps finished so far in the phase); a lower count (a new phase) starts over.
    public mutating func record(_ finished: Int, at date: Date) {
        if let last = samples.last, finished < last.finished { samples.removeAll() }
        samples.append((date, finished))
        samples.removeAll { date.timeIntervalSince($0.at) > window }
    }

    /// Nil until two samples span some time.
    public var rate: Double? {
        guard let first = samples.first, let last = samples.last else { return nil }
        let seconds = last.at.timeIntervalSince(first.at)
        guard seconds > 0.2 else { return nil }
        return Double(last.finished - first.finished) / seconds
    }
}
