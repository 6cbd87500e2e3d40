import FlotillaEngine
import Foundation
import Hummingbird

/// The dashboard's pages: `/` (the rollouts) and `/rollouts/ID` (one rollout), read from the control store and
/// rendered by `DashboardPage`. `?fragment=live` answers only the part the script re-fetches when the journal moves.
enum Dashboard {
    /// Every page and asset is served with it: only the server's own scripts, styles and connections.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

    /// How many events and measurements per check a rollout page shows.
    static let eventLimit = 200
    static let measurementLimit = 120

    static func list(_ request: Request, store: ControlStore) async throws -> Response {
        let rollouts = try await store.rollouts(limit: 50)
        let data = DashboardPage.ListData(
            halts: try await store.activeHalts(), rollouts: rollouts,
            progress: try await store.rolloutProgress(rollouts.map(\.id)), fleets: try await store.knownFleets(),
            lastEventID: try await store.latestEventID(), now: Date())
        if isFragment(request) { return html(DashboardPage.listLive(data)) }
        return html(DashboardPage.list(data))
    }

    static func rollout(_ id: String, request: Request, store: ControlStore) async throws -> Response {
        guard let record = try await store.rollout(id: id) else {
            let page = DashboardPage.page(
                title: "Flotilla · no such rollout",
                body: "<h1><a href=\"/\">Flotilla</a></h1><p>no rollout \(HTML.escape(id))</p>", attributes: [:])
            return html(page, status: .notFound)
        }
        // The id first: events written while the page is read come again through the stream, never not at all.
        let lastEventID = try await store.latestEventID()
        let data = DashboardPage.RolloutData(
            rollout: record, halts: try await store.activeHalts(fleet: record.fleet), steps: try await store.steps(id),
            events: try await store.latestJournalEvents(id, limit: eventLimit),
            verdicts: try await store.checkVerdicts(id),
            measurements: try await store.recentMeasurements(id, perCheck: measurementLimit),
            audit: try await rolloutAudit(record, store: store), lastEventID: lastEventID, now: Date())
        if isFragment(request) { return html(DashboardPage.rolloutLive(data)) }
        return html(DashboardPage.rollout(data))
    }

    /// The rollout's audit entries, and the halts and resumes of its fleet (or of every fleet) since it started:
    /// those carry no rollout.
    static func rolloutAudit(_ record: ControlStore.RolloutRecord, store: ControlStore) async throws -> [AuditEntry] {
        let own = try await store.auditEntries(rollout: record.id, limit: 200)
        let fleetWide = try await store.auditEntries(limit: 200).filter { entry in
            entry.rollout == nil && (entry.fleet == nil || entry.fleet == record.fleet) && entry.at >= record.createdAt
        }
        return (own + fleetWide).sorted { $0.id < $1.id }
    }

    static func isFragment(_ request: Request) -> Bool {
        request.uri.queryParameters.get("fragment") == "live"
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        .text(text, status: status, contentType: "text/html; charset=utf-8")
    }
}

/// Puts the dashboard's Content-Security-Policy and a few companions on every answer.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = Dashboard.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPFields.Element.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
