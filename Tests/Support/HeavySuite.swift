import Testing

/// One heavy suite at a time: the suites that start servers (Prometheus, Chromium, `flotilla serve`), run the built
/// binary over whole rollouts, or load tables with many rows wait here for each other, so that on two cores the rest
/// of the suite still gets its share of the machine. The other suites go on in parallel as before.
public actor HeavySuiteGate {
    public static let shared = HeavySuiteGate()

    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    public func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// `@Suite(.heavy)`: the whole suite runs while it holds ``HeavySuiteGate``.
public struct HeavySuite: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite ? self : nil
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await HeavySuiteGate.shared.acquire()
        do {
            try await function()
        } catch {
            await HeavySuiteGate.shared.release()
            throw error
        }
        await HeavySuiteGate.shared.release()
    }
}

extension Trait where Self == HeavySuite {
    /// Runs the suite alone among the heavy suites.
    public static var heavy: Self { HeavySuite() }
}
