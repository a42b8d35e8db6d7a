/* GET /api/ice (Bearer): the ICE servers for a call, with TURN credentials
 * for the caller (ice.h). No database: a call's set-up does not wait on
 * it. */
#include <time.h>

#include "auth.h"
#include "backend.h"
#include "ice.h"

void api_ice(struct httpd_req *req, const struct route_params *params, void *ud)
{
	struct backend *be = ud;
	struct auth_user user;
	json_t *body;

	(void)params;
	if (auth_user(be, req, MX_ICE, &user) < 0)
		return;
	body = ice_servers(be->cfg.stun_urls, be->cfg.turn_urls, be->cfg.turn_secret,
			   be->cfg.turn_ttl_s, user.sub, (int64_t)time(NULL));
	if (!body) {
		be_error(be, req, MX_ICE, 500, "internal", "out of memory", NULL);
		return;
	}
	be_json(be, req, MX_ICE, 200, body, NULL);
}
