import ArgumentParser
import FlotillaEngine
import FlotillaServer
import Foundation

extension Flotilla {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an HTTP API, a live dashboard and /metrics over the control store.",
            discussion: """
                GET /healthz, /api/rollouts, /api/rollouts/ID, /api/events (the journal as Server-Sent Events, \
                resumable with Last-Event-ID), /metrics and the dashboard (/ and /rollouts/ID) need no token. \
                POST /api/halt, /api/resume and /api/rollouts/ID/approve — and the dashboard's HALT, Resume and \
                Approve buttons — need `Authorization: Bearer TOKEN`, the token coming from FLOTILLA_API_TOKEN or \
                --token-file; without one they are refused. Stops on Ctrl-C or SIGTERM.
                """)

        @OptionGroup var control: ControlOptions

        @Option(help: "The address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "The port to listen on (0: any free port).")
        var port = 8080

        @Option(help: "A file holding the API token for mutating calls (instead of FLOTILLA_API_TOKEN).")
        var tokenFile: String?

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        }

        /// The token from --token-file, else from FLOTILLA_API_TOKEN; nil when neither gives one.
        func token() throws -> APIToken? {
            if let tokenFile {
                let text: String
                do {
                    text = try String(contentsOfFile: tokenFile, encoding: .utf8)
                } catch {
                    throw ValidationError("cannot read --token-file \(tokenFile)")
                }
                guard let token = APIToken(text) else { throw ValidationError("--token-file \(tokenFile) is empty") }
                return token
            }
            return ProcessInfo.processInfo.environment["FLOTILLA_API_TOKEN"].flatMap(APIToken.init)
        }

        func run() async throws {
            let token: APIToken?
            do {
                token = try self.token()
            } catch let error as ValidationError {
                printError("error: \(error.message)")
                throw ExitCode(2)
            }
            let session = try await control.session()
            let logger = makeLogger()
            let host = self.host
            let port = self.port
            if token == nil {
                print(
                    "no API token (FLOTILLA_API_TOKEN or --token-file): mutating calls (halt, resume, approve) are "
                        + "refused; reads work")
            }
            let controlURL = session.controlURL.redacted
            StopSignals.install()
            do {
                try await session.withControlStore { store in
                    let server = APIServer(store: store, token: token, logger: logger)
                    try await server.run(host: host, port: port) { bound in
                        let shown = host.contains(":") ? "[\(host)]" : host
                        print(
                            "serving control store \(controlURL) on http://\(shown):\(bound ?? port)/ (Ctrl-C to stop)")
                        fflush(nil)
                    } stop: {
                        await StopSignals.wait()
                        guard !Task.isCancelled else { return }
                        print("stopping: finishing the requests in flight (Ctrl-C again to quit at once)")
                        fflush(nil)
                    }
                }
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            print("stopped")
        }
    }
}
