"""Live request status in a real browser: start, watch, across instances, through a crash."""

from playwright.sync_api import expect

from .pages import create_request, expect_live, record_events, report, row, seen_ids, sign_in


def test_a_started_request_moves_from_queued_to_succeeded_without_a_reload(service, context):
    """Signing in, starting a request from the form and letting the demo worker run it shows every state live."""
    page = sign_in(context.new_page(), service.a, "ada")
    page.evaluate("window.sameDocument = true")
    page.get_by_label("Title").fill("Monthly report")
    page.get_by_role("button", name="Start").click()
    started = page.locator("tr[data-request-id]", has_text="Monthly report")
    expect(started.locator(".badge")).to_have_text("queued")

    service.deployment.manage(
        "demo_worker",
        "--url",
        service.a.url,
        "--token-file",
        str(token_file(service)),
        "--once",
        "--step-secs",
        "0.05",
        "--failure-rate",
        "0",
    )

    expect(started.locator(".badge")).to_have_text("succeeded")
    expect(started.locator("progress")).to_have_attribute("value", "100")
    expect(started.locator(".message")).to_have_text("Done")
    expect(page.locator("#live-region")).to_have_text("Monthly report: succeeded")
    assert page.evaluate("window.sameDocument") is True
    started.get_by_role("link", name="Monthly report").click()
    expect(page.locator("#history li")).to_have_count(11)  # queued, 9 × processing, succeeded
    expect(page.locator("#request-summary .badge")).to_have_text("succeeded")


def token_file(service):
    path = service.deployment.workdir / "worker-token"
    path.write_text(service.token)
    return path


def test_the_page_on_instance_b_shows_events_published_through_instance_a(service, context):
    """A page served by B gets, live, the request and progress a service reports through A."""
    page = sign_in(context.new_page(), service.b, "ada")
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Quarterly import")
        expect(row(page, request_id).locator(".badge")).to_have_text("queued")
        report(publisher, request_id, "processing", 40, "Crunching numbers")
    expect(row(page, request_id).locator(".badge")).to_have_text("processing")
    expect(row(page, request_id).locator(".percent")).to_have_text("40 %")
    expect(row(page, request_id).locator(".message")).to_have_text("Crunching numbers")


def test_the_page_recovers_by_itself_after_its_instance_dies_and_shows_each_missed_event_once(service, context):
    """Kill the page's instance: it shows "reconnecting", comes back, and has every event published meanwhile, once."""
    page = sign_in(context.new_page(), service.a, "ada")
    record_events(page)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Nightly export")
        expect(row(page, request_id).locator(".badge")).to_have_text("queued")

        service.a.kill()
        expect(page.locator("#connection .connection-label")).to_contain_text("Reconnecting")
        missed = [report(publisher, request_id, "processing", p, f"step {p}") for p in (30, 60)]
        missed.append(report(publisher, request_id, "succeeded", 100, "Exported"))
        service.a.start().wait_ready()

    expect_live(page)
    expect(row(page, request_id).locator(".badge")).to_have_text("succeeded")
    expect(row(page, request_id).locator(".message")).to_have_text("Exported")
    page.locator("#notification-centre .bell").click()
    for event_id in missed:
        expect(page.locator(f'.notification[data-event-id="{event_id}"]')).to_have_count(1)
    assert [seen_ids(page).count(event_id) for event_id in missed] == [1, 1, 1]


def test_a_phone_sized_screen_shows_requests_without_sideways_scrolling(service, make_context):
    """On a 390 px wide screen the dashboard fits: rows become cards, nothing scrolls sideways."""
    context = make_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = sign_in(context.new_page(), service.a, "ada")
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "A request with a rather long title that must wrap on phones")
        report(publisher, request_id, "processing", 70, "Writing the output files to the archive")
    expect(row(page, request_id).locator(".badge")).to_have_text("processing")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
