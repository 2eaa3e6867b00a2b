import SwiftUI
import ZhangbanKit

@MainActor
struct ContentView: View {
    // The app's own words are in Localizable.xcstrings (en, zh-Hans): SwiftUI looks a literal up there in
    // the device's language; the core's texts come in both languages from the core.
    var body: some View {
        TabView {
            TodoView().tabItem { Label("To do", systemImage: "checklist") }
            WalletView().tabItem { Label("Wallet", systemImage: "wallet.pass") }
            ServicesView().tabItem { Label("Services", systemImage: "magnifyingglass") }
            CasesView().tabItem { Label("My cases", systemImage: "list.bullet.rectangle") }
            NavigationStack { BackupView() }.tabItem { Label("Backup", systemImage: "externaldrive") }
            AgentModeTab().tabItem { Label("Agent mode (帮办代办)", systemImage: "person.2") }
        }
    }
}

/// 帮办代办 on this phone: its owner as a principal (who may act for me: PrincipalHomeView) or as an agent
/// (my principals: AgentHomeView), each over the one store.
@MainActor
struct AgentModeTab: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var principal: PrincipalModel?
    @State private var agent: AgentModel?
    @State private var open: String?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            Button(String(localized: "Who may act for me")) { open = "principal" }
            Button(String(localized: "Agent mode: my principals")) { open = "agent" }
        }
        .task {
            do {
                principal = try PrincipalModel(store: session.store)
                agent = try AgentModel(store: session.store, platformURL: session.platformURL)
            } catch {
                self.error = errorText(error, lang)
            }
        }
        .sheet(item: Binding(get: { open.map(Side.init) }, set: { open = $0?.id })) { side in
            if side.id == "principal", let principal {
                PrincipalHomeView(model: principal)
            } else if let agent {
                AgentHomeView(model: agent)
            }
        }
    }
}

private struct Side: Identifiable {
    let id: String
}

var lang: Lang { Lang.current }

func formatTime(_ unix: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(unix)).formatted(date: .abbreviated, time: .shortened)
}
