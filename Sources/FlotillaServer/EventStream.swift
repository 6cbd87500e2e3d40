import FlotillaEngine
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// One poller of the journal shared by every open event stream (`GET /api/events`): while anyone listens it looks
/// at the journal every `interval` with one statement (`ControlStore.journalTick`) and hands what it found to every
/// listener, so a hundred open dashboards cost the control store what one does. Nobody listening: no queries.
public actor EventHub: Service {
    /// What a listener gets.
    public enum Message: Sendable, Hashable {
        /// A journal event; its id is the stream's `id:`.
        case event(JournalEvent)
        /// The step counts of an unfinished rollout changed (`applied 3,pending 7`).
        case progress(rollout: String, steps: String)
        /// The active halts changed (their ids, `3,5`).
        case halts(String)
        /// Nothing happened for a while: a comment keeps proxies from closing the stream.
        case keepAlive
    }

    let store: ControlStore
    let interval: Duration
    let keepAlive: Duration
    let logger: Logger
    private var subscribers: [Int: AsyncStream<Message>.Continuation] = [:]
    private var nextKey = 0
    /// The id of the newest event handed out; set by the first listener after an idle spell.
    private var cursor: Int64 = 0
    private var progress: [String: String] = [:]
    private var halts: String?
    private var lastSent = ContinuousClock.now

    public init(
        store: ControlStore, interval: Duration = .milliseconds(300), keepAlive: Duration = .seconds(15),
        logger: Logger
    ) {
        self.store = store
        self.interval = interval
        self.keepAlive = keepAlive
        self.logger = logger
    }

    /// A listener that has seen the journal up to event `seen`. It gets every event after `upTo` (the hub's cursor
    /// now, never below `seen`); the events from `seen` to `upTo` it reads from the journal itself.
    func subscribe(seen: Int64) -> (key: Int, messages: AsyncStream<Message>, upTo: Int64) {
        if subscribers.isEmpty {
            // Waking up: start from this listener, and tell it the current progress and halts on the first look.
            cursor = seen
            progress = [:]
            halts = nil
        }
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let key = nextKey
        nextKey += 1
        subscribers[key] = continuation
        return (key, stream, max(cursor, seen))
    }

    func unsubscribe(_ key: Int) {
        subscribers.removeValue(forKey: key)?.finish()
    }

    /// How many listeners there are now.
    public var listeners: Int { subscribers.count }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { try await self.poll() }
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
    }

    private func poll() async throws {
        while !Task.isCancelled {
            if !subscribers.isEmpty {
                do {
                    apply(try await store.journalTick(after: cursor))
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning(
                        "event stream: the control store does not answer: \(ControlStoreFailure.message(error))")
                }
                if ContinuousClock.now - lastSent >= keepAlive { broadcast(.keepAlive) }
            }
            try await Task.sleep(for: interval)
        }
    }

    private func apply(_ tick: JournalTick) {
        guard !subscribers.isEmpty else { return }
        for event in tick.events where event.id > cursor {
            cursor = event.id
            broadcast(.event(event))
        }
        for (rollout, steps) in tick.progress.sorted(by: { $0.key < $1.key }) where progress[rollout] != steps {
            broadcast(.progress(rollout: rollout, steps: steps))
        }
        progress = tick.progress
        if halts != tick.halts {
            if halts != nil || !tick.halts.isEmpty { broadcast(.halts(tick.halts)) }
            halts = tick.halts
        }
    }

    private func broadcast(_ message: Message) {
        lastSent = .now
        for continuation in subscribers.values { continuation.yield(message) }
    }
}

/// `GET /api/events`: the journal as Server-Sent Events.
enum EventStream {
    static let lastEventID = HTTPFields.Element.Name("Last-Event-ID")!

    /// Where a stream starts: after the `Last-Event-ID` header's event (a reconnecting browser sends it), else after
    /// `?after=ID` (the page says which events it already shows), else from now.
    static func start(_ request: Request, store: ControlStore) async throws -> Int64 {
        if let header = request.headers[lastEventID]?.trimmingCharacters(in: .whitespaces), !header.isEmpty {
            guard let id = Int64(header), id >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID must be an event id")
            }
            return id
        }
        if let after = request.uri.queryParameters.get("after") {
            guard let id = Int64(after), id >= 0 else { throw APIError(.badRequest, "after must be an event id") }
            return id
        }
        return try await store.latestEventID()
    }

    static func response(_ request: Request, hub: EventHub, store: ControlStore, logger: Logger) async throws
        -> Response
    {
        let start: Int64
        do {
            start = try await self.start(request, store: store)
        } catch let error as APIError {
            throw error
        } catch {
            let message = ControlStoreFailure.message(error)
            logger.error("control store: \(message)")
            throw APIError(.serviceUnavailable, "control store: \(message)")
        }
        let rollout = request.uri.queryParameters.get("rollout").flatMap { $0.isEmpty ? nil : $0 }
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
            HTTPFields.Element.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let (key, messages, upTo) = await hub.subscribe(seen: start)
                do {
                    try await writer.write(ByteBuffer(string: "retry: 2000\n: flotilla events after \(start)\n\n"))
                    // What happened between the listener's last event and the hub's cursor, from the journal.
                    var last = start
                    while last < upTo {
                        let events = try await store.journalEvents(after: last, rollout: rollout, limit: 500)
                            .filter { $0.id <= upTo }
                        guard let newest = events.last else { break }
                        for event in events { try await writer.write(ByteBuffer(string: frame(.event(event)))) }
                        last = newest.id
                    }
                    for await message in messages.cancelOnGracefulShutdown() {
                        guard wanted(message, rollout: rollout, after: last) else { continue }
                        if case .event(let event) = message { last = event.id }
                        try await writer.write(ByteBuffer(string: frame(message)))
                    }
                    await hub.unsubscribe(key)
                    try await writer.finish(nil)
                } catch {
                    await hub.unsubscribe(key)
                    throw error
                }
            })
    }

    static func wanted(_ message: EventHub.Message, rollout: String?, after: Int64) -> Bool {
        switch message {
        case .event(let event): return event.id > after && (rollout == nil || event.rollout == rollout)
        case .progress(let id, _): return rollout == nil || id == rollout
        case .halts, .keepAlive: return true
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    struct Progress: Encodable {
        var rollout: String
        var steps: String
    }

    struct Halts: Encodable {
        var halts: String
    }

    /// One message in the text/event-stream format. JSON has no raw line breaks, so `data:` is one line.
    static func frame(_ message: EventHub.Message) -> String {
        func json(_ value: some Encodable) -> String {
            (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
        switch message {
        case .event(let event):
            return "id: \(event.id)\nevent: journal\ndata: \(json(event))\n\n"
        case .progress(let rollout, let steps):
            return "event: progress\ndata: \(json(Progress(rollout: rollout, steps: steps)))\n\n"
        case .halts(let ids):
            return "event: halts\ndata: \(json(Halts(halts: ids)))\n\n"
        case .keepAlive:
            return ": keep-alive\n\n"
        }
    }
}
