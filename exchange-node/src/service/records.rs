//! `mpx.v1.Records`: the county roster, for clerks (bearer token required).

use mpx_proto::resident_id::CheckDigitMode;
use mpx_proto::runtime::operator_of;
use mpx_proto::v1::records_server::{Records, RecordsServer};
use mpx_proto::v1::{
    CreatePersonRequest, CreatePersonResponse, DepartPersonRequest, DepartPersonResponse,
    ExportPeopleRequest, ExportPeopleResponse, GetPersonRequest, GetPersonResponse,
    ImportPeopleRequest, ImportPeopleResponse, ListPeopleRequest, ListPeopleResponse,
    MovePersonRequest, MovePersonResponse, PersonStatus,
};
use tonic::{Request, Response, Status};

use super::{page_size, require_purpose};
use crate::domain::resident_id_field;
use crate::workflow::Workflow;

/// A request's status filter: none when unspecified.
fn status_filter(value: i32) -> Result<Option<PersonStatus>, Status> {
    match PersonStatus::try_from(value) {
        Ok(PersonStatus::Unspecified) => Ok(None),
        Ok(status) => Ok(Some(status)),
        Err(_) => Err(Status::invalid_argument("status: not a PersonStatus value")),
    }
}

/// People per page of `ExportPeople`.
const EXPORT_PAGE: u32 = 2_000;

#[derive(Debug, Clone)]
pub struct RecordsService {
    workflow: Workflow,
}

impl RecordsService {
    pub fn new(workflow: Workflow) -> Self {
        Self { workflow }
    }

    pub fn into_server(self) -> RecordsServer<Self> {
        RecordsServer::new(self)
    }
}

/// Most rows in one `ImportPeople` call.
const MAX_IMPORT_ROWS: usize = 5000;

#[tonic::async_trait]
impl Records for RecordsService {
    async fn import_people(
        &self,
        request: Request<ImportPeopleRequest>,
    ) -> Result<Response<ImportPeopleResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        if request.rows.len() > MAX_IMPORT_ROWS {
            return Err(Status::invalid_argument(format!(
                "rows: at most {MAX_IMPORT_ROWS} per call"
            )));
        }
        let results = self
            .workflow
            .import_people(&operator, &request.rows)
            .await?;
        let stored = results
            .iter()
            .filter(|r| r.outcome() == mpx_proto::v1::ImportOutcome::Stored)
            .count();
        self.workflow
            .store()
            .audit(
                &operator,
                "records.import",
                &format!(
                    "import of {}",
                    request.source.chars().take(100).collect::<String>()
                ),
                &format!("{} rows, {stored} stored", results.len()),
                stored,
            )
            .await?;
        Ok(Response::new(ImportPeopleResponse { results }))
    }

    async fn create_person(
        &self,
        request: Request<CreatePersonRequest>,
    ) -> Result<Response<CreatePersonResponse>, Status> {
        let operator = operator_of(&request)?;
        let person = request
            .into_inner()
            .person
            .ok_or_else(|| Status::invalid_argument("person: required"))?;
        let (person, warnings, notice_case_id) =
            self.workflow.register_person(&operator, &person).await?;
        Ok(Response::new(CreatePersonResponse {
            person: Some(person),
            warnings,
            notice_case_id: notice_case_id.unwrap_or_default(),
        }))
    }

    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<GetPersonResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let id = resident_id_field("resident_id", &request.resident_id, CheckDigitMode::Warn)?.id;
        let person = self.workflow.store().get_person(id.as_str()).await?;
        let found = usize::from(person.is_some());
        self.workflow
            .store()
            .audit(&operator, "records.get", &purpose, id.as_str(), found)
            .await?;
        let person = person.ok_or_else(|| {
            Status::not_found(format!("resident_id: {id} is not in this county's roster"))
        })?;
        Ok(Response::new(GetPersonResponse {
            person: Some(person),
        }))
    }

    async fn list_people(
        &self,
        request: Request<ListPeopleRequest>,
    ) -> Result<Response<ListPeopleResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let status = status_filter(request.status)?;
        let limit = page_size(request.page_size);
        let people = self
            .workflow
            .store()
            .list_people(status, &request.page_token, limit)
            .await?;
        let next_page_token = if people.len() == limit as usize {
            people
                .last()
                .map(|p| p.resident_id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        self.workflow
            .store()
            .audit(&operator, "records.list", &purpose, "", people.len())
            .await?;
        Ok(Response::new(ListPeopleResponse {
            people,
            next_page_token,
        }))
    }

    type ExportPeopleStream =
        tokio_stream::wrappers::ReceiverStream<Result<ExportPeopleResponse, Status>>;

    async fn export_people(
        &self,
        request: Request<ExportPeopleRequest>,
    ) -> Result<Response<Self::ExportPeopleStream>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let status = status_filter(request.status)?;
        let store = self.workflow.store().clone();
        // Recorded before anything is read; the count follows when the stream ends.
        store
            .audit(&operator, "records.export", &purpose, "", 0)
            .await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut token = String::new();
            let mut sent = 0usize;
            loop {
                let people = match store.list_people(status, &token, EXPORT_PAGE).await {
                    Ok(people) => people,
                    Err(error) => {
                        let _ = sender.send(Err(Status::from(error))).await;
                        break;
                    }
                };
                let last = people.len() < EXPORT_PAGE as usize;
                token = people
                    .last()
                    .map(|p| p.resident_id.clone())
                    .unwrap_or_default();
                let count = people.len();
                if count > 0
                    && sender
                        .send(Ok(ExportPeopleResponse { people }))
                        .await
                        .is_err()
                {
                    break;
                }
                sent += count;
                if last {
                    break;
                }
            }
            if let Err(error) = store
                .audit(&operator, "records.export finished", &purpose, "", sent)
                .await
            {
                tracing::error!(%error, sent, "cannot record the end of an export in the audit log");
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            receiver,
        )))
    }

    async fn move_person(
        &self,
        request: Request<MovePersonRequest>,
    ) -> Result<Response<MovePersonResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let (person, case_id) = self
            .workflow
            .move_person(
                &operator,
                &request.resident_id,
                &request.new_residence_address,
                &request.effective_date,
            )
            .await?;
        Ok(Response::new(MovePersonResponse {
            person: Some(person),
            notice_case_id: case_id.unwrap_or_default(),
        }))
    }

    async fn depart_person(
        &self,
        request: Request<DepartPersonRequest>,
    ) -> Result<Response<DepartPersonResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let (person, case_id) = self
            .workflow
            .depart_person(
                &operator,
                &request.resident_id,
                &request.departure_date,
                &request.destination_county,
            )
            .await?;
        Ok(Response::new(DepartPersonResponse {
            person: Some(person),
            notice_case_id: case_id.unwrap_or_default(),
        }))
    }
}
