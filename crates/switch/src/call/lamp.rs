//! What a call shows on the busy lamps of the extensions in it.

use super::{other, Call, CallId, Phase, Side};
use crate::lamp::{DialogState, Direction, LampDialog};

impl Call {
    /// The extensions this call involves (either leg, and a transfer's
    /// target): the lamps a change of the call may change.
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        let target = match &self.phase {
            Phase::Transferring(t) => t.target.extension.as_deref(),
            _ => None,
        };
        [
            self.a.extension.as_deref(),
            self.b.extension.as_deref(),
            target,
        ]
        .into_iter()
        .flatten()
    }

    /// Adds to `out` the dialogs of call `id` that extension `number`'s
    /// lamp shows; the other party's identity only when `identities`.
    pub fn lamp_dialogs(
        &self,
        id: CallId,
        number: &str,
        identities: bool,
        out: &mut Vec<LampDialog>,
    ) {
        for side in [Side::A, Side::B] {
            if self.leg(side).extension.as_deref() != Some(number) {
                continue;
            }
            let Some(state) = self.lamp_state(side) else {
                continue;
            };
            let direction = match (side, &self.phase) {
                (Side::A, Phase::Ringing(_) | Phase::Established | Phase::Answered) => {
                    Direction::Initiator
                }
                _ => Direction::Recipient,
            };
            let remote = identities.then(|| self.leg(other(side)).identity.clone());
            out.push(LampDialog {
                id: format!("{id}{}", if side == Side::A { 'a' } else { 'b' }),
                state,
                direction,
                remote,
            });
        }
        if let Phase::Transferring(t) = &self.phase {
            if t.target.extension.as_deref() == Some(number) {
                let transferee = other(t.transferor);
                out.push(LampDialog {
                    id: format!("{id}t"),
                    state: DialogState::Early,
                    direction: Direction::Recipient,
                    remote: identities.then(|| self.leg(transferee).identity.clone()),
                });
            }
        }
    }

    /// How the leg on `side` shows: ringing while its phone rings (a new
    /// call's callee, a comeback's phone), talking otherwise.
    fn lamp_state(&self, side: Side) -> Option<DialogState> {
        match &self.phase {
            Phase::Ringing(_) => Some(DialogState::Early),
            Phase::Comeback(_) if side != self.parked_side() => Some(DialogState::Early),
            Phase::Comeback(_) | Phase::Parked(_) if side != self.parked_side() => None,
            _ => Some(DialogState::Confirmed),
        }
    }
}
